"""Singularity meters: how close a network is to elimination, overlap and linear-dependence singularities.

Every meter returns a JSON-ready dict with one value per hidden layer ("layers", layer 1 first) and their
average ("mean"); `all_meters` runs any set in one forward and backward pass per batch (eval mode), and
measurement_plan.meters_measurement attaches them to `models.training.train`. Each meter's definition,
and the choices where the paper is loose (docs/paper.md §4.2, §4.3), are in docs/meters.md. Everything
is computed on the model's device in float64; only per-layer results and the small width×width
covariances come to the host, explicitly, with `minigrad.to_host`.
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
    """Mean L2 norm of incoming weight vectors (biases excluded), per hidden layer; see docs/meters.md."""
    return _weight_meters(model, include_first)["elimination"]


def overlap(model, include_first=False):
    """Mean Pearson correlation of incoming weight vectors over pairs of units of a layer; see docs/meters.md."""
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

    xp = device.xp
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


# ----------------------------------------------------------------------------- flat numbers

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


def _mean(values):
    return float(sum(values) / len(values)) if values else 0.0
