"""Fully connected ReLU networks of docs/paper.md §2.3: every variant from one constructor.

With f = ReLU, L = depth hidden layers of `width` units, x_0 the input:

    plain      x_{l+1} = f(W_l x_l + b_{l+1})                                    l = 0 .. L-1
    residual   x_1 = f(W_0 x_0 + b_1),  x_{l+1} = f(W_l x_l + b_{l+1}) + Q x_l        l = 1 .. L-1
    hyperres   x_1 = f(W_0 x_0 + b_1),  x_2 = f(W_1 x_1 + b_2) + x_1,
               x_{l+1} = f(W_l x_l + b_{l+1}) + x_l + Σ_{k=1}^{l-1} Q_k x_k          l = 2 .. L-1

With hyper_q_draw='per-pair' the sum is Σ_{k=1}^{l-1} Q_{k,l+1} x_k instead: an independent fixed matrix for
every (source, target) pair, not one Q_k per source shared by every target (the default).

The skip is added after the ReLU, there is none from the input layer, and a
linear softmax layer reads x_L. Q is the identity unless `skip_matrix` names
another fixed matrix (models/skips.py). Fixed matrices are buffers, not
parameters, so all variants have the same parameter count (709,652 for 20×128
on 3072 inputs with 20 classes; 874,772 for 30 layers).

The choices where the paper is silent (shared or independent Q, one hyperres Q_k per source or per
(source, target) pair, malicious init, batch norm, the order of random draws) and the fidelity options `skip_scale` and `branch_init` (beyond the paper: remedies
for the activations' growth with depth at init), with their measured effect: docs/networks.md.

`forward(x, record=list)` appends, per hidden layer, {"pre": input of the ReLU,
"relu": f(pre), "out": x_{l+1}} (Tensors on the graph), for per-layer meters and
gradients with respect to layer activities.
"""
import numpy

from minigrad import concatenate, linear, nn, relu

from . import skips
from .checks import float_dtype, seeded
from .objective import bias_penalty, resolve_bias_lambda, resolve_bias_reg

SKIPS = ("plain", "residual", "hyperres")
INITS = ("glorot_normal", "malicious")
SKIP_SCALES = ("none", "branch", "average")
BRANCH_INITS = ("glorot", "small", "skipinit")
HYPER_Q_DRAWS = ("per-source", "per-pair")   # one Q_k per source layer k (the default), or one Q_{k,t} per target t too
_DEFAULTS = {"init": ("glorot_normal",), "skip_scale": ("none",), "branch_init": ("glorot",),
             "hyper_q_draw": ("per-source",)}   # left out of repr


class Fixed(nn.Module):
    """y = M x for a fixed matrix M (a buffer, not a parameter): applied to rows, y = x Mᵀ."""

    buffer_names = ("matrix",)

    def __init__(self, matrix):
        self.matrix = matrix

    def forward(self, x):
        return linear(x, self.matrix)

    def extra_repr(self):
        return f"{self.matrix.shape[1]}, {self.matrix.shape[0]}, fixed"


class Gain(nn.Module):
    """A learnable scalar gain α (a parameter of shape (1,)), initialised to 0: SkipInit's branch multiplier."""

    def __init__(self, dtype):
        self.alpha = nn.Parameter(numpy.zeros(1, dtype))

    def extra_repr(self):
        return "1"


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


class MLP(nn.Module):
    """A fully connected ReLU net; all of the paper's variants differ only in arguments.

    inputs, width, depth, classes   sizes: x_0 dimension, units per hidden layer, hidden layers, outputs
    skip          'plain' | 'residual' | 'hyperres'
    skip_matrix   Q of the residual skip: None (= 'identity' for residual/hyperres), 'identity',
                  'ortho', 'k<N>', 'beta<value>' (models/skips.py); must be None for plain and
                  'identity' for hyperres
    skip_shared   True: one Q for all skips; False: an independent Q per skip (residual, random Q only)
    hyper_matrix  the type of the hyperres Q_k (default 'k{width//4}', the paper's '32' at width 128)
    hyper_q_draw  'per-source' (one Q_k per source layer k, shared by every target: the default) | 'per-pair'
                  (an independent Q_{k,t} for every source k and target t); see q_matrix and docs/networks.md
    init          'glorot_normal' (biases 0) | 'malicious' (residual: Glorot − I on square layers)
    bias_reg      None | 'cifar10' | 'cifar100' | 'l2' | (mu, sigma): BiasReg targets b* ~ N(mu, sigma)
    bias_lambda   penalty strength λ (default 1e-3 when bias_reg is set; see models/objective.py)
    bn_layer      None | m in 1..depth: batch norm on the pre-activation of hidden layer m
    skip_scale    'none' | 'branch' (ReLU branch × 1/sqrt(depth)) | 'average' (each skip sum / its summands)
    branch_init   'glorot' | 'small' (W_l × 1/sqrt(depth), l >= 1) | 'skipinit' (learnable gain α_l = 0)
    rng           a seed (int) or a numpy.random.Generator; the config records the seed when it is an int
    dtype         float32 or float64 (parameters and buffers)
    """

    def __init__(self, inputs=3072, width=128, depth=30, classes=20, skip="plain", rng=None,
                 dtype=numpy.float32, *, skip_matrix=None, skip_shared=True, hyper_matrix=None,
                 init="glorot_normal", bias_reg=None, bias_lambda=None, bn_layer=None, skip_scale="none",
                 branch_init="glorot", hyper_q_draw="per-source"):
        inputs, width = _int(inputs, "inputs", 1), _int(width, "width", 1)
        depth, classes = _int(depth, "depth", 1), _int(classes, "classes", 1)
        if skip not in SKIPS:
            raise ValueError(f"unknown skip type {skip!r}; choose one of: {', '.join(SKIPS)}.")
        if skip == "residual" and depth < 2:
            raise ValueError(f"a residual net needs depth >= 2 (there is no skip from the input layer); got depth {depth}.")
        if skip == "hyperres" and depth < 3:
            raise ValueError(f"a hyper-residual net needs depth >= 3 (its fixed skips come from layers two or more back); "
                             f"got depth {depth}.")
        if skip == "plain" and skip_matrix is not None:
            raise ValueError(f"a plain net has no skip connections, so skip_matrix must be None; got {skip_matrix!r}.")
        if skip != "plain":
            skip_matrix = "identity" if skip_matrix is None else skip_matrix
            skip_matrix = skips.canonical(skip_matrix, width)
        if skip == "hyperres" and skip_matrix != "identity":
            raise ValueError(f"the hyper-residual skip from the previous layer is always the identity, "
                             f"so skip_matrix must be None or 'identity'; got {skip_matrix!r}.")
        if skip_shared not in (True, False):
            raise ValueError(f"skip_shared must be True or False; got {skip_shared!r}.")
        if not skip_shared and (skip != "residual" or skip_matrix == "identity"):
            raise ValueError("skip_shared=False (an independent Q per skip) needs skip='residual' with a random "
                             f"skip_matrix (ortho, k<N> or beta<value>); got skip={skip!r}, skip_matrix={skip_matrix!r}.")
        if skip != "hyperres" and hyper_matrix is not None:
            raise ValueError(f"hyper_matrix applies only to skip='hyperres', so it must be None for skip={skip!r}; "
                             f"got {hyper_matrix!r}.")
        if skip == "hyperres":
            if hyper_matrix is None:
                if width % 4:
                    raise ValueError(f"the default hyper_matrix (four copies of width/4 orthonormal vectors) needs a "
                                     f"width divisible by 4; got width {width}, so name one of: {skips.choices(width)}.")
                hyper_matrix = f"k{width // 4}"
            hyper_matrix = skips.canonical(hyper_matrix, width, "hyper_matrix")
        if hyper_q_draw not in HYPER_Q_DRAWS:
            raise ValueError(f"unknown hyper_q_draw {hyper_q_draw!r}; choose one of: {', '.join(HYPER_Q_DRAWS)}.")
        if skip != "hyperres" and hyper_q_draw != "per-source":
            raise ValueError(f"hyper_q_draw applies only to skip='hyperres', so it must be 'per-source' for "
                             f"skip={skip!r}; got {hyper_q_draw!r}.")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}.")
        if init == "malicious" and (skip != "residual" or skip_matrix != "identity"):
            raise ValueError("malicious init subtracts I to cancel the identity skip, so it needs skip='residual' "
                             f"with skip_matrix 'identity'; got skip={skip!r}, skip_matrix={skip_matrix!r}.")
        targets = resolve_bias_reg(bias_reg)
        bias_lambda = resolve_bias_lambda(targets, bias_lambda)
        if bn_layer is not None and (isinstance(bn_layer, bool) or not isinstance(bn_layer, (int, numpy.integer))
                                     or not 1 <= bn_layer <= depth):
            raise ValueError(f"bn_layer must be None or a hidden layer number from 1 to {depth}; got {bn_layer!r}.")
        if skip_scale not in SKIP_SCALES:
            raise ValueError(f"unknown skip_scale {skip_scale!r}; choose one of: {', '.join(SKIP_SCALES)}.")
        if skip == "plain" and skip_scale != "none":
            raise ValueError(f"a plain net has no skip sums to scale, so skip_scale must be 'none'; got {skip_scale!r}.")
        if branch_init not in BRANCH_INITS:
            raise ValueError(f"unknown branch_init {branch_init!r}; choose one of: {', '.join(BRANCH_INITS)}.")
        if skip == "plain" and branch_init != "glorot":
            raise ValueError(f"a plain net has no skip branches, so branch_init must be 'glorot'; got {branch_init!r}.")
        dtype = float_dtype(dtype)
        seed, rng = seeded(rng)
        sizes = [inputs] + [width] * depth
        self.hidden = [nn.Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])]
        self.output = nn.Linear(width, classes, rng=rng, dtype=dtype)
        if branch_init == "small":      # before malicious init: W_l = Glorot/sqrt(L) - I
            for layer in self.hidden[1:]:
                layer.weight.data *= dtype.type(1 / numpy.sqrt(depth))
        if init == "malicious":
            for layer in self.hidden[1:]:
                layer.weight.data -= numpy.eye(width, dtype=dtype)
        self.skip = skip
        self.skip_q = []            # Q of the residual skip: one (shared) or depth-1 (per skip); empty for identity
        if skip == "residual" and skip_matrix != "identity":
            self.skip_q = [Fixed(skips.make(skip_matrix, width, rng, dtype)) for _ in range(1 if skip_shared else depth - 1)]
        self.hyper_q = []           # per-source: hyper_q[k-1] is Q_k, k = 1 .. depth-2
        self._per_pair = hyper_q_draw == "per-pair"
        if skip == "hyperres" and not self._per_pair:
            self.hyper_q = [Fixed(skips.make(hyper_matrix, width, rng, dtype)) for _ in range(depth - 2)]
        elif skip == "hyperres":    # per-pair: hyper_q[t-3] is [Q_{1,t} ... Q_{t-2,t}] side by side, t = 3 .. depth,
            # drawn target by target, source by source; one product per layer on the sources put side by side
            self.hyper_q = [Fixed(numpy.concatenate([skips.make(hyper_matrix, width, rng, dtype)
                                                     for _ in range(1, t - 1)], axis=1)) for t in range(3, depth + 1)]
        self.bias_targets = None    # (depth, width) buffer when BiasReg is on
        self.bias_lambda = bias_lambda
        if targets is not None:
            mu, sigma = targets
            self.bias_targets = (mu + sigma * rng.standard_normal((depth, width))).astype(dtype)
            self.buffer_names = ("bias_targets",)
        self.bn = nn.BatchNorm1d(width, dtype=dtype) if bn_layer is not None else None
        self._bn_index = -1 if bn_layer is None else bn_layer - 1
        self.gains = [Gain(dtype) for _ in range(depth - 1)] if branch_init == "skipinit" else []   # α_1 .. α_{L-1}
        self._branch = float(1 / numpy.sqrt(depth)) if skip_scale == "branch" else None   # a Python float: cast to the dtype
        self._average = skip_scale == "average"
        self.config = {"arch": "mlp", "inputs": inputs, "width": width, "depth": depth, "classes": classes,
                       "skip": skip, "skip_matrix": skip_matrix, "skip_shared": bool(skip_shared),
                       "hyper_matrix": hyper_matrix, "init": init,
                       "bias_reg": None if targets is None else list(targets), "bias_lambda": bias_lambda,
                       "bn_layer": None if bn_layer is None else int(bn_layer), "skip_scale": skip_scale,
                       "branch_init": branch_init, "hyper_q_draw": hyper_q_draw, "seed": seed, "dtype": dtype.name}

    def forward(self, x, record=None):
        """Logits (N, classes) for x (N, inputs); with record=list, one dict per hidden layer is appended:
        {"pre": the ReLU's input (after batch norm on the bn layer), "relu": f(pre), "out": x_{l+1}}."""
        skip, skip_q, hyper_q, bn_index = self.skip, self.skip_q, self.hyper_q, self._bn_index
        gains, branch, average = self.gains, self._branch, self._average
        residual = skip != "plain"
        shared = len(skip_q) == 1
        per_pair = self._per_pair
        prev = acc = None
        sources = []                                      # per-pair: x_1 .. x_{l-1}
        for l, layer in enumerate(self.hidden):
            z = layer(x)
            if l == bn_index:
                z = self.bn(z)
            h = relu(z)
            if l == 0 or not residual:
                out = h
            else:
                b = h
                if gains:
                    b = b * gains[l - 1].alpha            # SkipInit: α_l f(·)
                if branch is not None:
                    b = b * branch                        # 1/sqrt(L) f(·)
                out = b + (x if not skip_q else skip_q[0 if shared else l - 1](x))
                if l >= 2 and skip == "hyperres" and not per_pair:
                    term = hyper_q[l - 2](prev)           # Q_{l-1} x_{l-1}, added to the running sum
                    acc = term if acc is None else acc + term
                    out = out + acc
                elif l >= 2 and skip == "hyperres":       # Σ_k Q_{k,l+1} x_k: one product on [x_1 .. x_{l-1}]
                    sources.append(prev)
                    out = out + hyper_q[l - 2](sources[0] if len(sources) == 1 else concatenate(sources, axis=-1))
                if average:                               # residual: 2 summands; hyperres: l + 1
                    out = out * (1 / (l + 1) if skip == "hyperres" else 0.5)
            if record is not None:
                record.append({"pre": z, "relu": h, "out": out})
            prev, x = x, out
        return self.output(x)

    def q_matrix(self, k, target):
        """The fixed matrix (a view of the buffer) applied to x_k in the sum that makes x_target of a hyperres net,
        1 <= k <= target-2 <= depth-2: Q_k for every target per source, Q_{k,target} per pair."""
        depth, width = self.config["depth"], self.config["width"]
        if self.skip != "hyperres" or not 1 <= k <= target - 2 or not 3 <= target <= depth:
            raise ValueError(f"a hyper-residual net of depth {depth} has Q_k for 1 <= k <= target - 2, "
                             f"3 <= target <= {depth}; got k={k}, target={target}.")
        if not self._per_pair:
            return self.hyper_q[k - 1].matrix
        return self.hyper_q[target - 3].matrix[..., (k - 1) * width:k * width]

    def penalty(self):
        """λ Σ_l Σ_i (b_li - b*_li)² over all hidden biases as a scalar Tensor on the graph; None without BiasReg."""
        if self.bias_targets is None:
            return None
        return bias_penalty([layer.bias for layer in self.hidden], self.bias_targets, self.bias_lambda)

    def extra_repr(self):
        c = self.config
        return ", ".join(f"{k}={c[k]!r}" for k in ("skip", "skip_matrix", "hyper_matrix", "init", "bias_reg", "bn_layer",
                                                        "skip_scale", "branch_init", "hyper_q_draw")
                         if c[k] is not None and c[k] not in _DEFAULTS.get(k, ()))
