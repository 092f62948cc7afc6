"""Stochastic Lanczos quadrature (SLQ): the Hessian's eigenvalue density from a few hundred products.

For a symmetric N x N operator H with eigenpairs (λ_i, u_i), the spectral density
φ(λ) = (1/N) Σ_i δ(λ - λ_i) is the expectation, over random probes r with
E[r rᵀ] = I, of the probe's spectral measure μ_r = Σ_i (u_iᵀ r)²/|r|² δ(λ - λ_i).
Lanczos from q_1 = r/|r| gives the m-point Gauss quadrature of μ_r: nodes θ_j (the
Ritz values) and weights τ_j (squared first components of T's eigenvectors), so

    φ ≈ (1/n_v) Σ_probes Σ_j τ_j δ(λ - θ_j)                     (pooled quadrature)

which matches (1/N) tr(H^k) in expectation for every k <= 2m - 1 (each probe's
quadrature reproduces r̂ᵀ H^k r̂ exactly). Probes are Rademacher (±1), drawn on the
host from a seeded generator and moved to the operator's device, so CPU and GPU
runs use the same probes.

What is stored: for every probe the raw tridiagonal (α, β), nodes and weights, so
that smoothing and windows can be redone without any new product (google's
`tridiag_to_eigv` separation).

Two widths, both standard deviations of a Gaussian kernel, both recorded:

* `sigma`, for the degenerate / negative / positive fractions, is read from
  `window.fractions(window.discrete_cdf(nodes, weights / n_v, sigma))`, the same
  window as the exact spectrum and the moment fit. Default window / 3 (1e-3 for
  the default window, the std of the paper's narrow Gaussian): a node at 0 then
  keeps 99.7% of its weight inside the window, and nodes near ±w are split
  smoothly instead of all-or-nothing. A width on the scale of the spectral range
  would smear the degenerate bulk over many windows and destroy the fractions (on
  the 10x16 test net, σ = range/steps turns a true degenerate fraction of 0.68
  into 0.21).
* `density_sigma`, for drawing φ on a grid (`density`), default (θ_max - θ_min) /
  steps: roughly the spacing of Gauss nodes, so the curve is smooth rather than
  a comb of spikes at the Ritz values (eigenthings v1's default). Not a variance
  (PyHessian and google/spectral-density scale a variance by the range).

Defaults, 100 steps and 10 probes:

* steps: the extreme Ritz values converge first (on the 4,852-parameter test net
  they equal the extreme eigenvalues to 1e-12 after 50 steps), but the fractions
  need resolution near 0, where Gauss nodes are about (range)/steps apart: on that
  net the degenerate fraction is off by 0.04 with 50 steps, 0.02 with 100, 0.01
  with 200 (σ = 1e-3, true value 0.68). 100 is where PyHessian and eigenthings
  (80) settle too, and costs 100 HVPs per probe.
* probes: one probe's estimate of a fraction f of N eigenvalues has a standard
  deviation of about sqrt(2 f (1 - f) / N) (0.01 on the test net; measured 0.006);
  with 10 the mean is stable (standard error 0.002 there, ten times below the
  quadrature's resolution error) and the spread over probes gives an error bar
  (`fraction_stderr`). PyHessian's default of one probe gives none.
* full reorthogonalization (default): without it, once a Ritz value converges
  the basis loses orthogonality and duplicates of converged eigenvalues ("ghost"
  eigenvalues) appear with wrong weights, most visibly at the ends of the spectrum
  that we report. The cost is a steps x N float64 basis (100 x 874,772 x 8 bytes
  = 0.7 GB for the paper's big net) and two extra matrix-vector products with it
  per step; switch it off with reorthogonalize=False where that does not fit.
"""
import time

import numpy
from scipy.special import ndtr

import minigrad as mg

from models.files import jsonable

from .lanczos import DEFAULT_TOL, gauss_quadrature, lanczos
from .window import WINDOW, WINDOWS, discrete_cdf, fraction_curves, fractions

DEFAULT_STEPS = 100
DEFAULT_PROBES = 10


def default_sigma(window=WINDOW):
    """The kernel std for the fractions: a third of the window (1e-3 for the default window)."""
    return window / 3


def default_density_sigma(nodes, steps):
    """The kernel std for drawing the density: (largest - smallest node) / steps."""
    nodes = numpy.concatenate([numpy.ravel(n) for n in nodes]) if len(nodes) else numpy.zeros(1)
    spread = float(numpy.max(nodes) - numpy.min(nodes))
    return spread / max(int(steps), 1) if spread > 0 else 1e-3


def rademacher(rng, dim):
    """A normalized ±1 vector (host float64) from a numpy Generator."""
    return (rng.integers(0, 2, size=dim) * 2 - 1).astype(numpy.float64) / numpy.sqrt(dim)


def operator_device(operator):
    """Where the operator's vectors live: operator.device, else its model's device, else the CPU."""
    device = getattr(operator, "device", None)
    if device is None and getattr(operator, "model", None) is not None:
        device = operator.model.device
    return mg.get_device(device if device is not None else "cpu")


def pooled(probes):
    """All probes' (nodes, weights) concatenated, each probe's weights divided by the number of probes."""
    nodes = numpy.concatenate([numpy.asarray(p["nodes"], dtype=numpy.float64) for p in probes])
    weights = numpy.concatenate([numpy.asarray(p["weights"], dtype=numpy.float64) / len(probes) for p in probes])
    return nodes, weights


def quadrature_moments(nodes, weights, orders=(1, 2, 3, 4)):
    """{k: Σ w θ^k} (for pooled quadrature: the estimate of (1/N) tr(H^k))."""
    nodes, weights = numpy.asarray(nodes, dtype=numpy.float64), numpy.asarray(weights, dtype=numpy.float64)
    return {int(k): float(numpy.sum(weights * nodes ** k)) for k in orders}


def slq_fractions(probes, sigma, window=WINDOW):
    """Fractions of the pooled quadrature smoothed by N(0, σ²), through the one window definition."""
    nodes, weights = pooled(probes)
    return fractions(discrete_cdf(nodes, weights, sigma), window)


def density(nodes, weights, sigma, grid=None, points=4001, expand=5.0):
    """The Gaussian-smoothed quadrature Σ w N(λ; θ, σ²) on a grid, normalized to integrate to 1.

    nodes, weights  a quadrature, e.g. all probes pooled (`pooled`); weights are normalized to sum 1
    sigma           the kernel's STANDARD DEVIATION (not a variance)
    grid            evaluation points (ascending, evenly spaced); default `points` points
                    from min(nodes) - expand·σ to max(nodes) + expand·σ

    Each value is the kernel mass in the grid cell around the point divided by the
    cell width (the exact average of the smooth density over the cell), so a grid
    coarser than σ neither misses nor double-counts narrow peaks; on a fine grid this
    is the pointwise density. The result is renormalized so that its trapezoid
    integral is exactly 1 (it is already within about 1e-6 when the grid spans
    ±5σ beyond the nodes). Returns (grid, values) as host float64 arrays.
    """
    nodes = numpy.asarray(nodes, dtype=numpy.float64).ravel()
    weights = numpy.asarray(weights, dtype=numpy.float64).ravel()
    if not sigma > 0:
        raise ValueError(f"the smoothing width sigma must be positive, got {sigma!r}")
    weights = weights / numpy.sum(weights)
    if grid is None:
        grid = numpy.linspace(nodes.min() - expand * sigma, nodes.max() + expand * sigma, int(points))
    grid = numpy.asarray(grid, dtype=numpy.float64)
    if grid.ndim != 1 or grid.size < 2 or not numpy.all(numpy.diff(grid) > 0):
        raise ValueError("the density grid must be an ascending 1-d array of at least 2 points")
    edges = numpy.concatenate([[grid[0] - (grid[1] - grid[0]) / 2], (grid[1:] + grid[:-1]) / 2,
                               [grid[-1] + (grid[-1] - grid[-2]) / 2]])
    mass = numpy.zeros(grid.size)
    for chunk in range(0, nodes.size, 256):     # bounded memory: (256 x points) at a time
        cdf = ndtr((edges[None, :] - nodes[chunk:chunk + 256, None]) / sigma)
        mass += weights[chunk:chunk + 256] @ numpy.diff(cdf, axis=1)
    values = mass / numpy.diff(edges)
    total = numpy.trapezoid(values, grid) if hasattr(numpy, "trapezoid") else numpy.trapz(values, grid)
    if not total > 0:
        raise ValueError("the density grid holds none of the quadrature's mass")
    return grid, values / total


def slq_spectrum(operator, steps=DEFAULT_STEPS, probes=DEFAULT_PROBES, seed=0, sigma=None, window=WINDOW,
                 reorthogonalize=True, tol=DEFAULT_TOL, density_sigma=None, progress=None, windows=WINDOWS):
    """Estimate the spectrum of `operator` (e.g. analysis.spectra.HessianOperator) by SLQ; a JSON-ready dict.

    operator    has .dim and .matvec(flat float64 vector on its device) -> flat float64 vector;
                .info() is recorded when present; its device is operator.device or operator.model.device
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
            runs[s].append({"alphas": alphas, "betas": betas, "nodes": nodes, "weights": weights, "steps": len(alphas),
                            "fractions": fractions(discrete_cdf(nodes, weights, sigma), window)})
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


def density_of(result, sigma=None, **kwargs):
    """`density` of a stored SLQ result (its per-probe nodes and weights), with its density_sigma by default."""
    runs = result["runs"]
    nodes, weights = pooled(runs)
    return density(nodes, weights, result["density_sigma"] if sigma is None else sigma, **kwargs)
