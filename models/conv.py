"""Plain and residual convolutional nets for CIFAR-shaped inputs (beyond the paper, which trains none).

The layer rule is the paper's MLP rule with convolutions for W:

    x_1     = f(conv_0(x_0))                                  the stem: 3×3, widths[0] channels, no skip
    x_{l+1} = f(conv_l(x_l)) [+ S(x_l) if residual]           one 3×3 conv per block, skip added after the ReLU

in len(widths) stages of `blocks` blocks each; the first block of every stage
after the first has stride 2 and the stage's channel count. Then global average
pooling and a linear head. Depth = 1 + blocks·len(widths) conv layers + the head.

S is the identity where shapes match. Where a block changes shape, S is a fixed,
parameter-free projection ("option A" of He et al. 2016): keep every second row
and column (x[:, :, ::2, ::2], the positions a stride-2 3×3 conv with padding 1
centres on) and append zero channels. So, as with the MLPs, plain and residual
nets have exactly the same parameters (same seed, same weights) and differ only
in the skip. Weights are Glorot normal (the paper's MLP initialisation) unless
`init='he_normal'`; biases 0. No batch norm by default; `batch_norm=True` puts a
BatchNorm2d on every conv's output, before the ReLU.

`forward(x, record=list)` appends per conv layer {"pre", "relu", "out"} as the MLP does.
"""
import numpy

from minigrad import Tensor, concatenate, nn, relu
from minigrad.ops import mean

from .checks import float_dtype, seeded
from .mlp import _int

CONV_SKIPS = ("plain", "residual")
CONV_INITS = ("glorot_normal", "he_normal")


class ConvNet(nn.Module):
    """blocks per stage, stage widths, classes, skip ('plain' | 'residual'), in_channels, batch_norm, init, rng, dtype."""

    def __init__(self, blocks=3, widths=(16, 32, 64), classes=10, skip="plain", rng=None, dtype=numpy.float32, *,
                 in_channels=3, batch_norm=False, init="glorot_normal"):
        blocks, classes = _int(blocks, "blocks", 1), _int(classes, "classes", 1)
        in_channels = _int(in_channels, "in_channels", 1)
        if skip not in CONV_SKIPS:
            raise ValueError(f"unknown skip type {skip!r} for a conv net; choose one of: {', '.join(CONV_SKIPS)}.")
        try:
            widths = [int(w) for w in widths]
        except (TypeError, ValueError):
            widths = []
        if not widths or any(w < 1 for w in widths) or any(b < a for a, b in zip(widths, widths[1:])):
            raise ValueError("widths must be a non-empty, non-decreasing sequence of positive channel counts "
                             "(e.g. (16, 32, 64)).")
        if batch_norm not in (True, False):
            raise ValueError(f"batch_norm must be True or False; got {batch_norm!r}.")
        if init not in CONV_INITS:
            raise ValueError(f"unknown init {init!r} for a conv net; choose one of: {', '.join(CONV_INITS)}.")
        dtype = float_dtype(dtype)
        seed, rng = seeded(rng)

        layers = [(in_channels, widths[0], 1)]                       # (in, out, stride) per conv
        for s, c in enumerate(widths):
            for b in range(blocks):
                first = b == 0 and s > 0
                layers.append((widths[s - 1] if first else c, c, 2 if first else 1))
        self.convs = [nn.Conv2d(a, c, 3, stride=st, padding=1, init_weight=init, rng=rng, dtype=dtype)
                      for a, c, st in layers]
        self.head = nn.Linear(widths[-1], classes, rng=rng, dtype=dtype)
        self.bns = [nn.BatchNorm2d(c, dtype=dtype) for _, c, _ in layers] if batch_norm else []
        self.skip = skip
        self._shapes = layers
        self.config = {"arch": "conv", "blocks": blocks, "widths": widths, "classes": classes, "skip": skip,
                       "in_channels": in_channels, "batch_norm": batch_norm, "init": init, "seed": seed,
                       "dtype": dtype.name}

    def forward(self, x, record=None):
        residual, bns = self.skip == "residual", self.bns
        for l, (conv, (cin, cout, stride)) in enumerate(zip(self.convs, self._shapes)):
            z = conv(x)
            if bns:
                z = bns[l](z)
            h = relu(z)
            out = h + self.shortcut(x, cin, cout, stride) if residual and l > 0 else h
            if record is not None:
                record.append({"pre": z, "relu": h, "out": out})
            x = out
        return self.head(mean(x, (2, 3)))

    @staticmethod
    def shortcut(x, cin, cout, stride):
        """S(x): identity, or every `stride`-th pixel with cout - cin zero channels appended (parameter-free)."""
        if stride != 1:
            x = x[:, :, ::stride, ::stride]
        if cout != cin:
            n, _, height, width = x.shape
            x = concatenate([x, Tensor(x.xp.zeros((n, cout - cin, height, width), x.dtype))], axis=1)
        return x

    def penalty(self):
        """No regularizer (the same interface as MLP, for `objective`)."""
        return None

    def extra_repr(self):
        c = self.config
        return f"blocks={c['blocks']}, widths={c['widths']}, skip={c['skip']!r}, batch_norm={c['batch_norm']}"
