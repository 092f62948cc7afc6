"""The exact Hessian spectrum of a small net: dense matrix, symmetric eigensolver, the one window.

For nets up to about 10,000 parameters (the paper's validation nets have 4,852,
docs/paper.md §4.1, Supp. Note 4) the whole Hessian fits in memory (N² float64: 190 MB
at 4,852, 800 MB at 10,000) and costs N products. It is the reference every
estimate is checked against:

* the eigenvalues, by `numpy.linalg.eigvalsh` in float64 on the host (symmetric
  solver; `operator.dense()` is already symmetrized);
* the fractions with `window.fractions(window.discrete_cdf(eigenvalues))`, the same
  window as the moment fit and SLQ (a value exactly at ±w counts as degenerate);
* the exact moments (1/N) Σ λ^k, k = 1..4: what Skilling's method estimates and
  what SLQ's quadrature reproduces in expectation.
"""
import time

import numpy

import minigrad as mg
from models.files import jsonable

from .window import WINDOW, WINDOWS, discrete_cdf, fraction_curves, fractions

LIMIT = 10_000         # the largest dense Hessian (or block) any method builds: 800 MB in float64


def spectrum_summary(eigenvalues, window=WINDOW, extremes=5, windows=WINDOWS):
    """Fractions (at `window`, and as curves over `windows`), moments and extremes of a set of eigenvalues
    (no eigenvalues themselves)."""
    ev = numpy.sort(numpy.asarray(eigenvalues, dtype=numpy.float64).ravel())
    count = min(extremes, ev.size)
    cdf = discrete_cdf(ev)
    return {
        "fractions": fractions(cdf, window),
        "curves": fraction_curves(lambda w: cdf, windows),
        "moments": {k: float(numpy.mean(ev ** k)) for k in (1, 2, 3, 4)},
        "top": ev[::-1][:count], "bottom": ev[:count],
        "max": float(ev[-1]), "min": float(ev[0]),
        "window": window,
    }


def exact_spectrum(operator, window=WINDOW, limit=LIMIT, keep_eigenvalues=True, progress=None, windows=WINDOWS):
    """All eigenvalues of the operator's dense matrix, with fractions and moments; a JSON-ready dict.

    operator    has .dim, .dense() (symmetric, on its device) and optionally .info(),
                e.g. analysis.spectra.HessianOperator (dense() costs .dim products)
    limit       the largest dimension accepted (a ValueError beyond it: use SLQ)
    keep_eigenvalues  store all eigenvalues (ascending) in the result; False keeps only the summary
    progress    called after each of the dim Hessian-vector products (for a progress bar)
    windows     the windows of the fraction curves (window.WINDOWS)

    Keys: eigenvalues (ascending, if kept), fractions, moments {1..4: (1/N) Σ λ^k},
    top (largest 5, descending), bottom (smallest 5, ascending), max, min, window, n,
    seconds (dense matrix and eigensolver), operator (operator.info()).
    An operator of ensemble members (dense() of shape (S, dim, dim)) gives a list: one dict per member.
    """
    dim = int(operator.dim)
    if dim > limit:
        raise ValueError(f"the exact spectrum needs the dense {dim} x {dim} Hessian ({dim} products, "
                         f"{dim * dim * 8 / 1e9:.1f} GB); that is above the limit of {limit} parameters. "
                         "Use the SLQ or moment estimates for a net this large.")
    began = time.perf_counter()
    matrix = numpy.asarray(mg.to_host(operator.dense(progress=progress) if progress else operator.dense()),
                           dtype=numpy.float64)
    built = time.perf_counter()
    matrices = matrix.reshape((-1, dim, dim))           # one matrix; one per member for an ensemble's operator
    results = []
    for member in matrices:
        eigenvalues = numpy.linalg.eigvalsh(member)
        result = {"method": "exact", "n": dim, **spectrum_summary(eigenvalues, window, windows=windows),
                  "seconds": {"dense": (built - began) / len(matrices), "eigvalsh": time.perf_counter() - built},
                  "operator": operator.info() if hasattr(operator, "info") else {"dim": dim}}
        if keep_eigenvalues:
            result["eigenvalues"] = eigenvalues
        results.append(jsonable(result))
        built = time.perf_counter()
    return results if matrix.ndim == 3 else results[0]
