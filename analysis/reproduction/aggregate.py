"""From runs' metrics rows to group curves (mean and standard error over seeds) and claim values.

Standard error: the sample standard deviation over runs (ddof = 1) / sqrt(n);
undefined (None) for a single run. Each run contributes once per epoch at which it
measured the metric; a diverged run contributes the epochs it finished.

Derived per-row quantities (added before aggregating, so they get SEs too):
  meters/grad/first_over_last   gradient norm at hidden layer 1 / at the last hidden
                                layer: < 1 means gradients vanish toward the input
  meters/rms/growth_last_first  RMS of the last hidden layer's output / the first's
  hessian/fit_error, fit_edges, fit_ok
                                the mixture fit of the row's Skilling moments m1..m4 on the
                                paper's grid, judged by the declared rule
                                (analysis/spectra/mixture_fit.py, fit_diagnostics)
  hessian/wide/...              the same moments fitted on the declared wide grid
                                (moments.wide_grids): degeneracy, negativity, w, xi, omega,
                                alpha and the same diagnostics
"""
import functools
import math
import re

import numpy

_LAYER = re.compile(r"^(.*)/layer(\d+)$")


def mean_se(values):
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(values)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    mean = float(numpy.mean(values))
    se = float(numpy.std(values, ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"mean": mean, "se": se, "n": n}


def layer_series(row, prefix):
    """[(layer, value), ...] of the keys '<prefix>/layerNN' in a row, by layer."""
    out = []
    for key, value in row.items():
        m = _LAYER.match(key)
        if m and m.group(1) == prefix:
            out.append((int(m.group(2)), value))
    return sorted(out)


def derive(row):
    row = dict(row)
    for prefix, name in (("meters/grad", "first_over_last"),):
        layers = layer_series(row, prefix)
        if len(layers) >= 2 and layers[-1][1]:
            row[f"{prefix}/{name}"] = layers[0][1] / layers[-1][1]
    layers = layer_series(row, "meters/rms")
    if len(layers) >= 2 and layers[0][1]:
        row["meters/rms/growth_last_first"] = layers[-1][1] / layers[0][1]
    moments = tuple(row.get(f"hessian/m{k}") for k in (1, 2, 3, 4))
    if None not in moments:
        paper, wide = _fits(moments)
        row.update({f"hessian/{k}": v for k, v in paper.items()})
        row.update({f"hessian/wide/{k}": v for k, v in wide.items()})
    return row


@functools.lru_cache(maxsize=None)
def _fits(moments):
    """The diagnostics of the paper-grid fit, and the wide-grid fit with its indices, of moments m1..m4."""
    from analysis.spectra.mixture_fit import fit_diagnostics, fit_mixture, wide_grids
    paper = fit_diagnostics(fit_mixture(moments))
    fit = fit_mixture(moments, wide_grids())
    wide = {"degeneracy": fit.degeneracy_index, "negativity": fit.negativity_index, **fit.params,
            **fit_diagnostics(fit)}
    return paper, wide


def curves(runs_rows):
    """{metric: {"epochs": [...], "mean": [...], "se": [...], "n": [...]}} over the runs of one group."""
    by_metric = {}
    for rows in runs_rows:
        for row in rows:
            for key, value in row.items():
                if key == "epoch" or not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue
                by_metric.setdefault(key, {}).setdefault(row["epoch"], []).append(value)
    out = {}
    for key, per_epoch in sorted(by_metric.items()):
        epochs = sorted(per_epoch)
        stats = [mean_se(per_epoch[e]) for e in epochs]
        out[key] = {"epochs": epochs, **{k: [s[k] for s in stats] for k in ("mean", "se", "n")}}
    return out


def _read(rows, metric, at):
    """(epoch, value) of one run's `metric` as `value_at` reads it; epoch None for 'mean', (None, None) if absent."""
    measured = [(r["epoch"], r[metric]) for r in rows if r.get(metric) is not None]
    later = [(e, v) for e, v in measured if e >= 1]
    if at == "last":
        return measured[-1] if measured else (None, None)
    if at == "early":
        return later[0] if later else (None, None)
    if at == "mean":
        return (None, float(numpy.mean([v for _, v in later]))) if later else (None, None)
    exact = [(e, v) for e, v in measured if e == at]
    return exact[0] if exact else (None, None)


def rows_read(rows, metric, at):
    """The rows of one run that `value_at` reads (all epochs >= 1 for 'mean')."""
    measured = [r for r in rows if r.get(metric) is not None]
    if at == "mean":
        return [r for r in measured if r["epoch"] >= 1]
    epoch = _read(rows, metric, at)[0]
    return [r for r in measured if r["epoch"] == epoch]


def value_at(rows, metric, at):
    """One run's value of `metric`: at an epoch (int), 'last' or 'early' (first measured epoch >= 1) it was
    measured, or 'mean' over the epochs >= 1 (for accuracy: how fast the run trained, the area under its curve)."""
    return _read(rows, metric, at)[1]


def epoch_of(rows, metric, at):
    """The epoch `value_at` reads (None for 'mean')."""
    return _read(rows, metric, at)[0]


def rank_split(rows_by_run, k, by="train_acc"):
    """(best k, worst k) runs by the mean of `by` over epochs >= 1 (Fig 4 and S2: best vs worst nets)."""
    scored = sorted(rows_by_run, key=lambda rows: value_at(rows, by, "mean") or 0.0, reverse=True)
    return scored[:k], scored[-k:]
