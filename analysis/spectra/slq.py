"""Stochastic Lanczos quadrature (SLQ): the Hessian's eigenvalue density from a few hundred products.

For each Rademacher probe r, Lanczos from r/|r| gives the Gauss quadrature (Ritz values, weights) of r's
spectral measure; pooled over probes it estimates φ(λ) = (1/N) Σ_i δ(λ - λ_i), exact in expectation for
the moments up to 2·steps - 1. Probes are drawn on the host from one seeded generator, so CPU and GPU
runs use the same ones. Every probe's raw tridiagonal, nodes and weights are stored, so fractions and
curves (density.py) can be redone without a new product. Why 100 steps, 10 probes, full
reorthogonalization and the two kernel widths: docs/spectra.md.
"""
import time

import numpy

import minigrad as mg
from minigrad.backend import CPU

from models.files import jsonable

from .density import default_density_sigma, default_sigma, pooled, probe_fractions, slq_fractions
from .lanczos import DEFAULT_TOL, gauss_quadrature, lanczos
from .window import WINDOW, WINDOWS, discrete_cdf, fraction_curves

DEFAULT_STEPS = 100
DEFAULT_PROBES = 10


def rademacher(rng, dim):
    """A normalized ±1 vector (host float64) from a numpy Generator."""
    return (rng.integers(0, 2, size=dim) * 2 - 1).astype(numpy.float64) / numpy.sqrt(dim)


def operator_device(operator):
    """The Device the operator's vectors live on: operator.device (a HessianOperator's is its model's Device;
    a name, as a hand-made operator may give, goes through the one resolver, mg.get_device), else the CPU."""
    device = getattr(operator, "device", None)
    return CPU if device is None else mg.get_device(device)


def quadrature_moments(nodes, weights, orders=(1, 2, 3, 4)):
    """{k: Σ w θ^k} (for pooled quadrature: the estimate of (1/N) tr(H^k))."""
    nodes, weights = numpy.asarray(nodes, dtype=numpy.float64), numpy.asarray(weights, dtype=numpy.float64)
    return {int(k): float(numpy.sum(weights * nodes ** k)) for k in orders}


def slq_spectrum(operator, steps=DEFAULT_STEPS, probes=DEFAULT_PROBES, seed=0, sigma=None, window=WINDOW,
                 reorthogonalize=True, tol=DEFAULT_TOL, density_sigma=None, progress=None, windows=WINDOWS):
    """Estimate the spectrum of `operator` (e.g. analysis.spectra.HessianOperator) by SLQ; a JSON-ready dict.

    operator    has .dim and .matvec(flat float64 vector on its device) -> flat float64 vector;
                .info() is recorded when present; its device is operator.device (the CPU without one)
    steps       Lanczos steps per probe (products per probe); capped at dim
    probes      number of Rademacher probes, drawn from numpy.random.default_rng(seed) on the host
    sigma       kernel std for the fractions (default window / 3)
    window      the degeneracy window w (analysis/spectra/window.py)
    reorthogonalize, tol   see analysis.spectra.lanczos.lanczos
    density_sigma   kernel std for drawing the density (default (θ_max - θ_min) / steps); recorded only
    progress    called once per Lanczos step (steps x probes calls), e.g. to advance a bar

    The dict holds: per probe (alphas, betas, nodes, weights, steps done, its fractions);
    fractions of the pooled quadrature and their standard error over probes; `curves`, the
    pooled fractions at every window of window.WINDOWS, each smoothed by that window's default sigma; quadrature
    moments k = 1..4 (estimates of (1/N) tr H^k); `top` and `bottom`: the 5 largest and
    smallest Ritz values, each the extreme over probes (by interlacing every Ritz value
    is on the inner side of its eigenvalue, so the outermost is the best estimate);
    sigma, density_sigma, window, settings, breakdowns, products, seconds and operator.info().
    An operator of ensemble members (vectors (S, dim)) gives a list: one dict per member, each
    from the probes its single net would draw, all members' Lanczos runs side by side.
    """
    dim = int(operator.dim)
    steps, probes = min(int(steps), dim), int(probes)
    if probes < 1:
        raise ValueError(f"SLQ needs at least one probe, got {probes}")
    sigma = default_sigma(window) if sigma is None else float(sigma)
    device = operator_device(operator)
    rows = tuple(getattr(operator, "rows", ()))
    members = rows[0] if rows else 1
    rng = numpy.random.default_rng(seed)
    began, runs, breakdowns = time.perf_counter(), [[] for _ in range(members)], [[] for _ in range(members)]
    products = getattr(operator, "products", None)
    for p in range(probes):
        start = mg.to_device(rademacher(rng, dim), device)
        if rows:                                   # every member gets the probe its single net would
            start = mg.get_array_module(start).stack([start] * members)
        results = lanczos(operator.matvec, dim, start, steps, reorthogonalize=reorthogonalize,
                          tol=tol, progress=progress)   # warns (LanczosBreakdown) if it stops early
        for s, (alphas, betas) in enumerate(results if rows else [results]):
            if len(alphas) < steps:
                breakdowns[s].append({"probe": p, "steps": len(alphas)})
            nodes, weights = gauss_quadrature(alphas, betas)
            runs[s].append({"alphas": alphas, "betas": betas, "nodes": nodes, "weights": weights, "steps": len(alphas)})
    seconds = (time.perf_counter() - began) / members
    settings = {"steps": steps, "probes": probes, "seed": seed, "probe": "rademacher",
                "reorthogonalize": bool(reorthogonalize), "tol": tol, "sigma": sigma, "sigma_is": "standard deviation",
                "window": window, "windows": windows, "seconds": seconds,
                "operator": operator.info() if hasattr(operator, "info") else {"dim": dim}}
    if products is not None:
        settings["products"] = operator.products - products
    results = [_summary(r, b, density_sigma, settings) for r, b in zip(runs, breakdowns)]
    return results if rows else results[0]


def _summary(runs, breakdowns, density_sigma, settings):
    """The JSON-ready result of one operator's (or ensemble member's) probes."""
    probes, steps, sigma, window = (settings[k] for k in ("probes", "steps", "sigma", "window"))
    for run, found in zip(runs, probe_fractions(runs, sigma, window)):
        run["fractions"] = found            # each probe's own fractions, after its alphas .. steps
    nodes, weights = pooled(runs)
    per_probe = {k: numpy.array([r["fractions"][k] for r in runs]) for k in ("negative", "degenerate", "positive")}
    stderr = {k: float(v.std(ddof=1) / numpy.sqrt(probes)) if probes > 1 else None for k, v in per_probe.items()}
    count = min(5, min(r["steps"] for r in runs))
    top = numpy.max([numpy.sort(r["nodes"])[::-1][:count] for r in runs], axis=0)
    bottom = numpy.min([numpy.sort(r["nodes"])[:count] for r in runs], axis=0)
    result = {
        "method": "slq",
        **{k: settings[k] for k in ("steps", "probes", "seed", "probe", "reorthogonalize", "tol", "sigma", "sigma_is")},
        "density_sigma": (default_density_sigma([r["nodes"] for r in runs], steps)
                          if density_sigma is None else float(density_sigma)),
        "window": window,
        "fractions": slq_fractions(runs, sigma, window),
        "curves": fraction_curves(lambda w: discrete_cdf(nodes, weights, default_sigma(w)), settings["windows"]),
        "fraction_stderr": stderr,
        "moments": quadrature_moments(nodes, weights),
        "top": top, "bottom": bottom,
        "ritz_max": float(top[0]), "ritz_min": float(bottom[0]),
        "breakdowns": breakdowns,
        "runs": runs,
        "seconds": settings["seconds"],
        "operator": settings["operator"],
    }
    if "products" in settings:
        result["products"] = settings["products"]
    return jsonable(result)

