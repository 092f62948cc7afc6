"""Every smoothing of a computed spectrum: fractions and density curves from stored nodes, weights or a fit.

The estimators (exact.py, slq.py, moments.py) compute eigenvalues, Gauss quadratures and mixture fits;
this module only turns what they stored into fractions and curves, so a picture or a window can be
redone without a new Hessian-vector product (google/spectral-density keeps its smoothing in density.py
for the same reason). Kernel widths are standard deviations; docs/spectra.md says why each default.
"""
import numpy
from scipy.special import ndtr

from .mixture_fit import mixture_logpdf
from .window import WINDOW, discrete_cdf, fractions


def default_sigma(window=WINDOW):
    """The kernel std for the fractions: a third of the window (1e-3 for the default window)."""
    return window / 3


def default_density_sigma(nodes, steps):
    """The kernel std for drawing the density: (largest - smallest node) / steps."""
    nodes = numpy.concatenate([numpy.ravel(n) for n in nodes]) if len(nodes) else numpy.zeros(1)
    spread = float(numpy.max(nodes) - numpy.min(nodes))
    return spread / max(int(steps), 1) if spread > 0 else 1e-3


def pooled(probes):
    """All probes' (nodes, weights) concatenated, each probe's weights divided by the number of probes."""
    nodes = numpy.concatenate([numpy.asarray(p["nodes"], dtype=numpy.float64) for p in probes])
    weights = numpy.concatenate([numpy.asarray(p["weights"], dtype=numpy.float64) / len(probes) for p in probes])
    return nodes, weights


def probe_fractions(probes, sigma, window=WINDOW):
    """Each probe's fractions: its own quadrature smoothed by N(0, σ²), through the one window definition."""
    return [fractions(discrete_cdf(p["nodes"], p["weights"], sigma), window) for p in probes]


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

    Each value is the kernel mass in the grid cell around the point divided by the cell width, so a
    grid coarser than σ neither misses nor double-counts narrow peaks; the result is renormalized to
    a trapezoid integral of exactly 1. Returns (grid, values) as host float64 arrays.
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


def mixture_reach(xi, omega, sigma0):
    """Half the width of the span a mixture's curve is drawn on: the skew normal's bulk and the narrow Gaussian."""
    return max(abs(xi) + 6.0 * omega, 10.0 * sigma0)


def density_curve(fit, lam=None, points=2001):
    """(λ, log q(λ)) of a fitted mixture (a MixtureFit or its to_dict()): on `lam`, or on `points` values
    spanning the skew normal's bulk and 0."""
    if isinstance(fit, dict):
        p, sigma0 = fit["params"], fit["sigma0"]
    else:
        p, sigma0 = fit.params, fit.sigma0
    if lam is None:
        reach = mixture_reach(p["xi"], p["omega"], sigma0)
        lam = numpy.linspace(-reach, reach, int(points))
    lam = numpy.asarray(lam, dtype=numpy.float64)
    return lam, mixture_logpdf(lam, p["w"], p["xi"], p["omega"], p["alpha"], sigma0)


MOMENT_METHODS = ("moments", "skilling-moments+skewnormal-mixture-grid")   # as estimate.py names it; as it names itself


def density_of(result, sigma=None, points=4001, **kwargs):
    """(λ grid, p(λ)) of any method's stored result: the fitted mixture, or a Gaussian-smoothed quadrature.

    SLQ results are smoothed by their density_sigma (or `sigma`); exact eigenvalues by a kernel whose std is
    the spectral range / 100 (or `sigma`), about the resolution of 100 Lanczos steps, so the two pictures are
    comparable. The fractions a plot's title gives come from the result itself, not from this curve.
    """
    if result["method"] in MOMENT_METHODS:
        grid, logp = density_curve(result["fit"], points=points)
        return grid, numpy.exp(logp)
    if result["method"] == "slq":
        nodes, weights = pooled(result["runs"])
        return density(nodes, weights, result["density_sigma"] if sigma is None else sigma, points=points, **kwargs)
    eigenvalues = numpy.asarray(result["eigenvalues"])
    sigma = max(numpy.ptp(eigenvalues) / 100, 1e-12) if sigma is None else sigma
    return density(eigenvalues, numpy.ones_like(eigenvalues), sigma, points=points, **kwargs)
