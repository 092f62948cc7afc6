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

The paper's Fig 5 variants, carried over from the MLP (models/mlp.py):
* `init='malicious'` (residual only): the conv analogue of the MLP's Glorot − I on
  the square hidden layers. After Glorot normal init, every conv l >= 1 (all but
  the stem, which has no skip) has the skip's linear map S subtracted, so that at
  init its pre-activation is conv_glorot(x) − S(x). S is linear and a 3×3 conv
  with padding 1 and stride s centres on exactly the pixels S keeps, so the kernel
  with W[c, c, 1, 1] = 1 for c < cin (cin that layer's input channels) and 0
  elsewhere reproduces S, identity and shape-changing blocks alike (the appended
  zero channels c >= cin get no 1). Hence W[c, c, 1, 1] -= 1 for c < cin.
* `bias_reg` / `bias_lambda` (BiasReg, BiasL2Reg with 'l2'): exactly the MLP's,
  with the output channels of every conv layer (stem included, head not) as the
  hidden units: one fixed target b* ~ N(mu, sigma) per channel bias, and
  `penalty()` = λ Σ (b − b*)² over all conv biases (models/objective.py). The
  targets are drawn from the model's generator after every other draw (conv
  weights, head), so a seed gives the same weights with or without BiasReg, and
  kept as one flat buffer `bias_targets` in conv-layer order (the layers have
  different channel counts). With batch_norm=True a BN follows every conv and
  cancels its bias; the penalty still pulls that bias to its target (harmless,
  it has no data gradient), as with the MLP's bn_layer.

`forward(x, record=list)` appends per conv layer {"pre", "relu", "out"} as the MLP does.
"""
import numpy

from minigrad import Tensor, concatenate, nn, relu
from minigrad.ops import mean

from .checks import float_dtype, seeded
from .mlp import _int
from .objective import bias_penalty, resolve_bias_lambda, resolve_bias_reg

CONV_SKIPS = ("plain", "residual")
CONV_INITS = ("glorot_normal", "he_normal", "malicious")


class ConvNet(nn.Module):
    """blocks per stage, stage widths, classes, skip ('plain' | 'residual'), in_channels, batch_norm,
    init ('glorot_normal' | 'he_normal' | 'malicious'), bias_reg, bias_lambda (as the MLP's), rng, dtype."""

    def __init__(self, blocks=3, widths=(16, 32, 64), classes=10, skip="plain", rng=None, dtype=numpy.float32, *,
                 in_channels=3, batch_norm=False, init="glorot_normal", bias_reg=None, bias_lambda=None):
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
        if init == "malicious" and skip != "residual":
            raise ValueError("malicious init subtracts the skip's map to cancel it, so it needs skip='residual'; "
                             f"got skip={skip!r}.")
        targets = resolve_bias_reg(bias_reg)
        bias_lambda = resolve_bias_lambda(targets, bias_lambda)
        dtype = float_dtype(dtype)
        seed, rng = seeded(rng)

        layers = [(in_channels, widths[0], 1)]                       # (in, out, stride) per conv
        for s, c in enumerate(widths):
            for b in range(blocks):
                first = b == 0 and s > 0
                layers.append((widths[s - 1] if first else c, c, 2 if first else 1))
        weight_init = "glorot_normal" if init == "malicious" else init
        self.convs = [nn.Conv2d(a, c, 3, stride=st, padding=1, init_weight=weight_init, rng=rng, dtype=dtype)
                      for a, c, st in layers]
        self.head = nn.Linear(widths[-1], classes, rng=rng, dtype=dtype)
        if init == "malicious":           # W - S: the centre tap of channel c -> c reproduces the skip (docstring)
            for conv, (cin, _, _) in zip(self.convs[1:], layers[1:]):
                idx = numpy.arange(cin)
                conv.weight.data[idx, idx, 1, 1] -= dtype.type(1)
        self.bias_targets = None          # flat (Σ_l channels_l,) buffer when BiasReg is on; drawn last
        self.bias_lambda = bias_lambda
        if targets is not None:
            mu, sigma = targets
            self.bias_targets = (mu + sigma * rng.standard_normal(sum(c for _, c, _ in layers))).astype(dtype)
            self.buffer_names = ("bias_targets",)
        self.bns = [nn.BatchNorm2d(c, dtype=dtype) for _, c, _ in layers] if batch_norm else []
        self.skip = skip
        self._shapes = layers
        self.config = {"arch": "conv", "blocks": blocks, "widths": widths, "classes": classes, "skip": skip,
                       "in_channels": in_channels, "batch_norm": batch_norm, "init": init,
                       "bias_reg": None if targets is None else list(targets), "bias_lambda": bias_lambda,
                       "seed": seed, "dtype": dtype.name}

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
        """λ Σ (b - b*)² over every conv bias as a scalar Tensor on the graph (as MLP's, for `objective`);
        None without BiasReg."""
        if self.bias_targets is None:
            return None
        return bias_penalty([conv.bias for conv in self.convs], self.bias_targets, self.bias_lambda)

    def extra_repr(self):
        c = self.config
        extra = "".join(f", {k}={c[k]!r}" for k in ("init", "bias_reg") if c[k] not in (None, "glorot_normal"))
        return f"blocks={c['blocks']}, widths={c['widths']}, skip={c['skip']!r}, batch_norm={c['batch_norm']}{extra}"
