"""Singularity meters: how close a network is to elimination, overlap and linear-dependence singularities.

Every meter returns a JSON-ready dict with one value per hidden layer ("layers",
layer 1 first, the layer that reads the input) and their average ("mean"), and
`measurement(...)` attaches any set of them to `models.training.train`. The paper defines
some of these only loosely (docs/paper.md §4.2, §4.3, §6 item 9); where it is silent the
choice made here is stated in the meter's own paragraph below.

Data. The activity meters (zero responses, linear dependence, gradient norms,
activation scale) use a fixed subset: `measurement` takes the first `n_samples`
training examples (default 1,000; the training set is not sorted by class, and
mirrors come after all originals, so this is a fixed, class-balanced-in-expectation
sample). The model runs in eval mode (batch norm on its running statistics, so
examples do not interact) and in minibatches of `batch_size` (default 500), which
changes no result: every statistic below is a sum over examples.

Layers. "Hidden layer l" (l = 1..L) is the l-th ReLU layer: for an MLP the Linear
`model.hidden[l-1]` (W_{l-1}, rows = incoming weight vectors) and its record
{"pre", "relu", "out"} (models/mlp.py); for a ConvNet the l-th conv `model.convs[l-1]`.
The output (softmax) layer is never a hidden layer.

The meters (flat key prefix in `measurement` in brackets):

* elimination [elimination]: the mean L2 norm of the hidden units' incoming weight
  vectors (rows of W), per layer; biases excluded (the paper says "incoming weight
  vectors"; a bias is a threshold, not a weight). "mean" averages the
  hidden-to-hidden layers 2..L by default (`include_first=False`): layer 1's rows
  have 3,072 entries against 128 elsewhere, their norms live on another scale
  (Glorot gives ≈ sqrt(2·3072/3200) ≈ 1.39 there against ≈ 1.0 at 128×128, and the
  paper's Fig 4c axis starts at 1.0, the 128×128 value), and one such layer among 29
  would bias a depth comparison. Both averages are always reported: "mean_all"
  (layers 1..L) and "mean_hidden" (2..L). A net with one hidden layer has no
  hidden-to-hidden layer: its "mean" is layer 1's value.
* overlap [overlap]: the mean Pearson correlation between the incoming weight
  vectors of two distinct units of one layer, over the vector entries; signed (Fig
  S2f has negative values); over all n(n-1)/2 pairs, averaged per layer, then over
  the same layers as elimination. A row with no variance over its entries (a zero
  or constant row, an elimination singularity) has no correlation: it counts as 0
  against every partner and stays in the pair count. With n = 1 there are no pairs
  and the value is 0. Note that the pair mean of n unit vectors is bounded below by
  -1/(n-1).
* zero responses [zero]: the fraction of (unit, example) pairs whose ReLU output
  f(pre) is exactly 0; the ReLU branch, not the sum with the skip (which is rarely
  exactly 0), per layer; "mean" averages all L layers (Fig 7b averages "all hidden
  units": with equal widths this is the pooled fraction).
* silent units [silent]: the fraction of units whose ReLU output is exactly 0 for every
  example of the subset, units that never respond over the data; per layer, "mean" over
  all L layers (for a conv layer a unit is a channel, silent when it is 0 at every
  position of every example). The paper's Fig 7b "zero responses" are 3-7%, far below
  the share of zero (unit, example) pairs (above): this reading fits its scale.
* linear dependence [erank_<source>, pr_<source>, top3_<source>]: the paper's v8
  measure was not recovered (docs/paper.md §6 item 1), so three standard spectral summaries of
  the covariance C of a layer's responses over the data subset, eigenvalues λ_i ≥ 0:
    - effective rank exp(-Σ p_i log p_i), p_i = λ_i / Σλ (Roy & Vetterli 2007 apply
      the entropy to singular values of a matrix; here to the covariance's
      eigenvalues, i.e. squared singular values of the centred responses, so it is
      in the same variance units as the other two);
    - participation ratio (Σλ)² / Σλ²;
    - the fraction of variance in the top 3 principal components, Σ_{i≤3} λ_i / Σλ.
  Low rank / high top-3 fraction = more linearly dependent units. Sources:
  "out" (the layer output x_l, what the next layer reads: linear dependence there
  makes the next layer's incoming weights unidentifiable) and "relu" (the ReLU
  branch f(·), the units themselves; for a plain net both are the same tensor).
  A dead layer (total variance ≤ 1e-12 of its mean square, e.g. all ReLUs silent)
  has effective rank 0 and participation ratio 0 (no dimension carries variance)
  and top-3 fraction 1 (fully dependent), never NaN. "mean" averages all L layers.
* gradient norms [grad]: ‖∂ℓ_n/∂x_l‖, the L2 norm over the layer output x_l (the
  record's "out") of the gradient of example n's cross-entropy ℓ_n, averaged over
  the examples of the subset; "mean" averages all L layers. The paper says only
  "mean gradient norms with respect to layer activities" (docs/paper.md §4.3). We use the
  per-example loss because its scale does not depend on how many examples are
  measured; the gradient of a mean loss over B examples is this divided by B, so the
  paper's Keras numbers were probably ours / 500 (its batch): at the top of a Glorot
  net ours is ≈ 1.3, /500 ≈ 0.003, inside Fig 6a's 0–0.01 range. The loss is
  cross-entropy alone: BiasReg's penalty has no gradient with respect to
  activities. Computed as B·∂(batch-mean loss)/∂x_l, exact because in eval mode
  example n's loss depends only on its own activities.

* activation scale [rms]: per hidden layer the RMS of the layer output x_l (the
  record's "out") over examples and units, sqrt(mean(x_l²)), and "logits", the RMS of
  the output layer's logits; "mean" averages all L layers and "growth" is the last
  layer's RMS over the first's (0 when layer 1 is silent). Not one of the paper's
  meters: the paper never discusses activation scale, but as stated (skip after the
  ReLU, no normalisation, Glorot init) each residual layer adds a non-negative branch
  to its input, so the RMS grows geometrically with depth (hyperres faster still),
  which decides the logits' scale and so the start of training. It is the check for
  the fidelity options of models/mlp.py (skip_scale, branch_init), which bound it.

Conv nets (models/conv.py) are handled: a unit is an output channel. Its incoming
weight vector is its kernel flattened over (in channels, kh, kw); zero responses
count (example, channel, position) triples; the covariance is over channels with
(example, position) pairs as samples; gradient norms are over the whole (C, H, W)
activity of an example; the activation RMS is over (N, C, H, W). Layer 1 is the stem conv (3 input channels).

Everything is computed on the model's device (CuPy on a GPU) in float64; only the
per-layer results (and the small width×width covariances, for the eigenvalues) are
copied to the host, explicitly, with `minigrad.to_host`.
"""
import math

import numpy

import minigrad as mg
from minigrad import functional as F

METERS = ("elimination", "overlap", "zero_responses", "silent_units", "linear_dependence", "gradient_norms",
          "activation_scale")
WEIGHT_METERS = ("elimination", "overlap")
ACTIVITY_METERS = ("zero_responses", "silent_units", "linear_dependence", "gradient_norms", "activation_scale")
SOURCES = ("out", "relu")
N_SAMPLES = 1000
BATCH_SIZE = 500
TOP = 3
DEAD = 1e-12          # a layer whose total variance is at most this fraction of its mean square is dead
FLAT = {"elimination": "elimination", "overlap": "overlap", "zero_responses": "zero", "silent_units": "silent",
        "gradient_norms": "grad", "activation_scale": "rms"}


# ----------------------------------------------------------------------------- weights

def weight_rows(model):
    """Per hidden layer, its incoming weight vectors as rows of a 2-D array on the model's device (no copy to host)."""
    if hasattr(model, "hidden"):                        # models.MLP: Linear weight (out, in)
        weights = [layer.weight.data for layer in model.hidden]
    elif hasattr(model, "convs"):                       # models.ConvNet: kernel (out, in, kh, kw)
        weights = [conv.weight.data for conv in model.convs]
    else:
        raise TypeError(f"singularity meters need an MLP (model.hidden) or a ConvNet (model.convs); "
                        f"got {type(model).__name__}.")
    return [w.reshape(w.shape[0], -1) for w in weights]


def _row_stats(w):
    """(mean row norm, mean pairwise Pearson correlation of rows) of a 2-D array, as float64 device scalars."""
    xp = mg.get_array_module(w)
    w = w.astype(xp.float64)
    n = w.shape[0]
    norms = xp.sqrt((w * w).sum(axis=1))
    z = w - w.mean(axis=1, keepdims=True)
    spread = xp.sqrt((z * z).sum(axis=1))
    ok = spread > 1e-10 * norms                          # rows with variance over their entries
    z = z * (ok / xp.where(ok, spread, 1.0))[:, None]    # unit rows, or zero rows
    total = z.sum(axis=0)
    pairs = (total * total).sum() - (z * z).sum()        # Σ_{i≠j} corr(i, j) over ordered pairs
    overlap = pairs / (n * (n - 1)) if n > 1 else pairs * 0.0
    return norms.mean(), overlap


def _weight_meters(model, include_first):
    rows = weight_rows(model)
    stats = [_row_stats(w) for w in rows]
    xp = mg.get_array_module(rows[0])
    host = mg.to_host(xp.stack([v for pair in stats for v in pair])).reshape(len(rows), 2)
    return {name: _summary([float(v) for v in host[:, k]], include_first) for k, name in enumerate(WEIGHT_METERS)}


def _summary(values, include_first):
    """The per-layer values with "mean" over the chosen layers, and both "mean_all" and "mean_hidden"."""
    out = {"layers": values, "mean_all": _mean(values)}
    if len(values) > 1:
        out["mean_hidden"] = _mean(values[1:])
    out["mean"] = out["mean_all"] if include_first or len(values) == 1 else out["mean_hidden"]
    out["include_first"] = bool(include_first)
    return out


def elimination(model, include_first=False):
    """Mean L2 norm of incoming weight vectors (biases excluded), per hidden layer; see the module docstring."""
    return _weight_meters(model, include_first)["elimination"]


def overlap(model, include_first=False):
    """Mean Pearson correlation of incoming weight vectors over pairs of units of a layer; see the module docstring."""
    return _weight_meters(model, include_first)["overlap"]


# ----------------------------------------------------------------------------- activities

def spectrum_stats(eigenvalues, top=TOP, mean_square=None):
    """{'erank', 'pr', 'top<k>'} of a covariance's eigenvalues (host array); a dead spectrum gives 0, 0, 1.

    Negative eigenvalues (rounding) count as 0. The spectrum is dead when Σλ is 0, or at
    most DEAD × `mean_square` (the responses' mean square, Σλ + ‖mean‖²) when it is given.
    """
    lam = numpy.clip(numpy.asarray(eigenvalues, dtype=numpy.float64), 0.0, None)
    total = float(lam.sum())
    if not total > (DEAD * mean_square if mean_square is not None else 0.0):
        return {"erank": 0.0, "pr": 0.0, f"top{top}": 1.0}
    p = lam / total
    nz = p[p > 0]
    return {"erank": float(math.exp(-float(numpy.sum(nz * numpy.log(nz))))),
            "pr": float(total * total / float(numpy.sum(lam * lam))),
            f"top{top}": float(numpy.sort(lam)[::-1][:top].sum() / total)}


def response_stats(responses, top=TOP):
    """Linear-dependence statistics of a (samples, units) response matrix (any device); see spectrum_stats."""
    acc = _Moments()
    acc.add(responses)
    return acc.stats(top)


class _Moments:
    """Streaming mean and covariance of rows, in float64 on the device, shifted by the first batch's mean."""

    def __init__(self):
        self.shift = self.s1 = self.s2 = None
        self.count = 0

    def add(self, rows):
        xp = mg.get_array_module(rows)
        rows = rows.astype(xp.float64)
        if self.shift is None:
            self.shift = rows.mean(axis=0)
            self.s1 = xp.zeros_like(self.shift)
            self.s2 = xp.zeros((rows.shape[1], rows.shape[1]), xp.float64)
        d = rows - self.shift
        self.s1 = self.s1 + d.sum(axis=0)
        self.s2 = self.s2 + d.T @ d
        self.count += rows.shape[0]

    def stats(self, top=TOP):
        m = self.s1 / self.count
        xp = mg.get_array_module(m)
        cov = self.s2 / self.count - m[:, None] * m[None, :]
        mean = self.shift + m
        square = xp.stack([xp.trace(cov) + (mean * mean).sum()])
        cov, square = mg.to_host(cov), mg.to_host(square)    # width × width: small, explicit copy
        cov = (cov + cov.T) / 2
        return spectrum_stats(numpy.linalg.eigvalsh(cov), top, float(square[0]))


def _units(a):
    """Responses as (samples, units): (N, width) stays; (N, C, H, W) becomes (N·H·W, C)."""
    if a.ndim == 2:
        return a
    return a.transpose(0, *range(2, a.ndim), 1).reshape(-1, a.shape[1])


def _activity_meters(model, x, labels, want, batch_size=BATCH_SIZE, sources=SOURCES, top=TOP):
    """One forward (and, for gradient norms, one backward) per minibatch; returns the requested activity meters."""
    want = [w for w in ACTIVITY_METERS if w in want]
    if not want:
        return {}
    device = model.device
    x, labels = _on(model, x, labels)
    n = len(x)
    if n == 0:
        raise ValueError("the singularity meters need at least one example.")
    if "gradient_norms" in want and labels is None:
        raise ValueError("gradient norms need the labels of the examples.")
    batch_size = n if batch_size is None else max(1, int(batch_size))
    grads = "gradient_norms" in want
    scale = "activation_scale" in want
    zeros, grad_sums, moments, units = None, None, None, None
    squares, logit_squares = None, 0
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            xb = mg.Tensor(x[start:start + batch_size])
            b = len(xb)
            record = []
            with mg.grad_mode(grads):
                logits = model(xb, record=record)
            if zeros is None:
                zeros, fired = [0] * len(record), [None] * len(record)
                grad_sums = [0] * len(record)
                units = [r["relu"].size // b for r in record]
                moments = {s: [_Moments() for _ in record] for s in sources}
                squares = [0] * len(record)
                logit_units = logits.size // b
            if "zero_responses" in want:
                for l, r in enumerate(record):
                    zeros[l] = zeros[l] + (r["relu"].data == 0).sum()
            if "silent_units" in want:
                for l, r in enumerate(record):
                    now = (_units(r["relu"].data) != 0).any(axis=0)
                    fired[l] = now if fired[l] is None else fired[l] | now
            if "linear_dependence" in want:
                for l, r in enumerate(record):
                    for s in sources:
                        if s == "relu" and "out" in sources and r["relu"] is r["out"]:
                            continue                        # a plain layer: the same tensor, computed once
                        moments[s][l].add(_units(r[s].data))
            if scale:
                for l, r in enumerate(record):
                    squares[l] = squares[l] + _square_sum(r["out"].data)
                logit_squares = logit_squares + _square_sum(logits.data)
            if grads:
                loss = F.cross_entropy(logits, labels[start:start + batch_size])
                gs = mg.grad(loss, [r["out"] for r in record])
                for l, g in enumerate(gs):
                    xp = g.xp
                    flat = g.data.reshape(b, -1).astype(xp.float64)
                    grad_sums[l] = grad_sums[l] + xp.sqrt((flat * flat).sum(axis=1)).sum() * b
            del record, logits
    finally:
        model.train(was_training)

    xp = mg.get_device(device).xp
    out = {}
    if "zero_responses" in want:
        counts = mg.to_host(xp.stack([xp.asarray(z, dtype=xp.float64) for z in zeros]))
        values = [float(c) / (n * u) for c, u in zip(counts, units)]
        out["zero_responses"] = {"layers": values, "mean": _mean(values)}
    if "silent_units" in want:
        shares = mg.to_host(xp.stack([1.0 - f.astype(xp.float64).mean() for f in fired]))
        values = [float(v) for v in shares]
        out["silent_units"] = {"layers": values, "mean": _mean(values)}
    if "linear_dependence" in want:
        result = {}
        for s in sources:
            per_layer = []
            for l, m in enumerate(moments[s]):
                if m.count == 0:                            # the "relu" source of a plain layer
                    m = moments["out"][l]
                per_layer.append(m.stats(top))
            result[s] = {k: {"layers": [p[k] for p in per_layer], "mean": _mean([p[k] for p in per_layer])}
                         for k in per_layer[0]}
        out["linear_dependence"] = result
    if grads:
        sums = mg.to_host(xp.stack([xp.asarray(g, dtype=xp.float64) for g in grad_sums]))
        values = [float(v) / n for v in sums]
        out["gradient_norms"] = {"layers": values, "mean": _mean(values)}
    if scale:
        sums = mg.to_host(xp.stack([xp.asarray(q, dtype=xp.float64) for q in [*squares, logit_squares]]))
        sizes = [n * u for u in units] + [n * logit_units]
        values = [math.sqrt(float(v) / size) for v, size in zip(sums, sizes)]
        layers = values[:-1]
        out["activation_scale"] = {"layers": layers, "mean": _mean(layers), "logits": values[-1],
                                   "growth": layers[-1] / layers[0] if layers[0] > 0 else 0.0}
    return out


def _square_sum(a):
    """Σ a² over all entries, in float64 on a's device (a device scalar, no host copy)."""
    xp = mg.get_array_module(a)
    a = a.astype(xp.float64)
    return (a * a).sum()


def _on(model, x, labels):
    """x (host or device array, or Tensor) and labels on the model's device, x in the model's dtype."""
    device = model.device
    dtype = model.parameters()[0].dtype
    if isinstance(x, mg.Tensor):
        x = x.data
    x = mg.to_device(x, device)
    if x.dtype != dtype:
        x = x.astype(dtype)
    if labels is not None:
        labels = mg.to_device(labels.data if isinstance(labels, mg.Tensor) else labels, device)
        if len(labels) != len(x):
            raise ValueError(f"the meters need one label per example; got {len(x)} examples and {len(labels)} labels.")
    return x, labels


def activation_scale(model, x, batch_size=BATCH_SIZE):
    """RMS of each hidden layer's output x_l over examples and units, and of the logits; eval mode, no graph."""
    return _activity_meters(model, x, None, ("activation_scale",), batch_size)["activation_scale"]


def silent_units(model, x, batch_size=BATCH_SIZE):
    """{'layers', 'mean'}: the share of each hidden layer's units that never respond (ReLU 0 on every example)."""
    return _activity_meters(model, x, None, ("silent_units",), batch_size)["silent_units"]


def zero_responses(model, x, batch_size=BATCH_SIZE):
    """Fraction of (unit, example) pairs with ReLU output exactly 0, per hidden layer; eval mode, no graph."""
    return _activity_meters(model, x, None, ("zero_responses",), batch_size)["zero_responses"]


def linear_dependence(model, x, batch_size=BATCH_SIZE, sources=SOURCES, top=TOP):
    """Effective rank, participation ratio and top-k variance fraction of each layer's responses, per source."""
    return _activity_meters(model, x, None, ("linear_dependence",), batch_size, sources, top)["linear_dependence"]


def gradient_norms(model, x, labels, batch_size=BATCH_SIZE):
    """Mean over examples of ‖∂ℓ_n/∂x_l‖ (per-example cross-entropy, layer output x_l), per hidden layer."""
    return _activity_meters(model, x, labels, ("gradient_norms",), batch_size)["gradient_norms"]


def all_meters(model, x, labels, include_first=False, batch_size=BATCH_SIZE, sources=SOURCES, top=TOP, names=METERS):
    """Every meter named in `names` (default all) on examples x with labels: one forward and backward per batch.

    Returns {meter: result, ..., "n_samples": N}; each result is the dict its own
    function returns.
    """
    unknown = [n for n in names if n not in METERS]
    if unknown:
        raise ValueError(f"unknown meter {unknown[0]!r}; choose from: {', '.join(METERS)}.")
    out = {}
    if any(n in names for n in WEIGHT_METERS):
        out.update({k: v for k, v in _weight_meters(model, include_first).items() if k in names})
    out.update(_activity_meters(model, x, labels, names, batch_size, sources, top))
    out["n_samples"] = len(x)
    return {k: out[k] for k in (*METERS, "n_samples") if k in out}


# ----------------------------------------------------------------------------- training hook

def flatten(result, per_layer=True):
    """all_meters' dict as flat {key: number}: '<prefix>/mean', '<prefix>/mean_all', '<prefix>/layer03', ...

    Prefixes: elimination, overlap, zero, grad, rms (with 'rms/logits' and 'rms/growth'
    too), and erank_<source>, pr_<source>, top3_<source> for linear dependence.
    `per_layer` is True, False, or a collection of meter names whose per-layer values
    are kept.
    """
    flat = {}

    def series(prefix, meter, s):
        other = "mean_hidden" if s.get("include_first") else "mean_all"     # the average "mean" is not
        flat.update({f"{prefix}/{key}": s[key] for key in ("mean", other) if key in s})
        if per_layer is True or (per_layer and meter in per_layer):
            width = max(2, len(str(len(s["layers"]))))
            flat.update({f"{prefix}/layer{l:0{width}d}": v for l, v in enumerate(s["layers"], 1)})

    for meter, value in result.items():
        if meter == "linear_dependence":
            for source, stats in value.items():
                for stat, s in stats.items():
                    series(f"{stat}_{source}", meter, s)
        elif meter in FLAT:
            series(FLAT[meter], meter, value)
            flat.update({f"{FLAT[meter]}/{key}": value[key] for key in ("logits", "growth") if key in value})
    return flat


def measurement(names=METERS, n_samples=N_SAMPLES, epochs=None, name="meters", include_first=False,
                batch_size=BATCH_SIZE, sources=SOURCES, per_layer=True, top=TOP):
    """A models.training.Measurement running `names` on the first n_samples training examples at `epochs` (None: all)."""
    from models.training import Measurement

    names = tuple(names)
    unknown = [n for n in names if n not in METERS]
    if unknown:
        raise ValueError(f"unknown meter {unknown[0]!r}; choose from: {', '.join(METERS)}.")

    def fn(model, data, epoch):
        x, y = data.train_x[:n_samples], data.train_y[:n_samples]
        return flatten(all_meters(model, x, y, include_first, batch_size, sources, top, names), per_layer)

    return Measurement(name, fn, epochs)


def _mean(values):
    return float(sum(values) / len(values)) if values else 0.0
