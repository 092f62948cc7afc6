"""The paper's mixture fit (docs/paper.md §4.1): q(λ) = w·SN(λ; ξ, ω, α) + (1 − w)·N(λ; 0, σ0²) fitted to four moments.

Closed-form raw moments and CDF of the mixture, the paper's grid search (57 values per parameter,
minimising the misfit Σ_k |m̂_k − m_k| / |m_k|), and the fitted mixture's window fractions (the
degeneracy and negativity indices). The grid ranges the paper lost, tie-breaking and the optional
Nelder–Mead polish are in docs/spectra.md. Host NumPy in float64.
"""
import math
import time
from dataclasses import dataclass

import numpy
from scipy import optimize
from scipy.special import ndtr
from scipy.stats import norm, skewnorm

from models.files import jsonable

from .window import WINDOW, fractions

SIGMA0 = 1e-3          # std of the mixture's fixed zero-mean Gaussian (the paper's 0.001)
GRID_POINTS = 57       # the paper's values per parameter
CHUNK_ELEMENTS = 1 << 18   # elements per float64 temporary of the grid search (2 MiB)
PARAMETERS = ("w", "xi", "omega", "alpha")
_B = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------- the parametric density

def standard_skewnorm_moments(alpha):
    """E[Z^k], k = 1..4, of the standard skew normal with shape α: shape alpha.shape + (4,).

    With δ = α/√(1+α²), b = √(2/π) and Z = δ|U| + √(1−δ²) V (U, V standard normal):
    E[Z] = bδ, E[Z²] = 1, E[Z³] = bδ(3 − δ²), E[Z⁴] = 3.
    """
    alpha = numpy.asarray(alpha, dtype=numpy.float64)
    delta = alpha / numpy.sqrt(1.0 + alpha * alpha)
    e1 = _B * delta
    return numpy.stack([e1, numpy.ones_like(delta), e1 * (3.0 - delta * delta), numpy.full_like(delta, 3.0)], axis=-1)


def _raw_from_standard(xi, omega, standard):
    """Raw moments 1..4 of ξ + ωZ from E[Z^k] (`standard`, last axis 4), by the binomial expansion."""
    xi = numpy.asarray(xi, dtype=numpy.float64)[..., None]
    om = numpy.asarray(omega, dtype=numpy.float64)[..., None]
    e1, e2, e3, e4 = (standard[..., k:k + 1] for k in range(4))
    x2, o2 = xi * xi, om * om
    m1 = xi + om * e1
    m2 = x2 + 2.0 * xi * om * e1 + o2 * e2
    m3 = x2 * xi + 3.0 * x2 * om * e1 + 3.0 * xi * o2 * e2 + o2 * om * e3
    m4 = x2 * x2 + 4.0 * x2 * xi * om * e1 + 6.0 * x2 * o2 * e2 + 4.0 * xi * o2 * om * e3 + o2 * o2 * e4
    return numpy.concatenate([m1, m2, m3, m4], axis=-1)


def skewnorm_moments(xi, omega, alpha):
    """Raw moments E[X^k], k = 1..4, of SN(ξ, ω, α) (scipy's skewnorm(a=α, loc=ξ, scale=ω)); broadcasts."""
    xi, omega, alpha = numpy.broadcast_arrays(*(numpy.asarray(a, dtype=numpy.float64) for a in (xi, omega, alpha)))
    return _raw_from_standard(xi, omega, standard_skewnorm_moments(alpha))


def normal_moments(sigma0=SIGMA0):
    """Raw moments 1..4 of N(0, σ0²): 0, σ0², 0, 3σ0⁴."""
    s2 = float(sigma0) ** 2
    return numpy.array([0.0, s2, 0.0, 3.0 * s2 * s2])


def mixture_moments(w, xi, omega, alpha, sigma0=SIGMA0):
    """Raw moments 1..4 of w·SN(ξ, ω, α) + (1 − w)·N(0, σ0²); broadcasts, last axis 4."""
    g = normal_moments(sigma0)
    s = skewnorm_moments(xi, omega, alpha)
    w = numpy.asarray(w, dtype=numpy.float64)[..., None]
    return w * (s - g) + g           # the grid search's own expression, so on-grid fits are exact


def mixture_cdf(w, xi, omega, alpha, sigma0=SIGMA0):
    """The mixture's CDF as a function of λ (for `window.fractions`)."""
    w, xi, omega, alpha, sigma0 = (float(v) for v in (w, xi, omega, alpha, sigma0))
    return lambda x: w * float(skewnorm.cdf(x, alpha, loc=xi, scale=omega)) + (1.0 - w) * float(ndtr(x / sigma0))


def mixture_logpdf(lam, w, xi, omega, alpha, sigma0=SIGMA0):
    """log q(λ), computed as a log-sum-exp of the two components (no underflow in the tails)."""
    lam = numpy.asarray(lam, dtype=numpy.float64)
    none = numpy.full(lam.shape, -numpy.inf)
    a = math.log(w) + skewnorm.logpdf(lam, alpha, loc=xi, scale=omega) if w > 0 else none
    b = math.log1p(-w) + norm.logpdf(lam, scale=sigma0) if w < 1 else none
    return numpy.logaddexp(a, b)


# --------------------------------------------------------------------------- the grid search

def paper_grids(points=GRID_POINTS, w=(1e-9, 1e-3), xi=(-50.0, 50.0), omega=(1e-1, 1e3), alpha=(-10.0, 10.0)):
    """The paper's grids as docs/paper.md §4.1 infers them: w and ω log-spaced, ξ and α linear."""
    return {"w": numpy.geomspace(*w, points), "xi": numpy.linspace(*xi, points),
            "omega": numpy.geomspace(*omega, points), "alpha": numpy.linspace(*alpha, points)}


def wide_grids(points=GRID_POINTS):
    """The declared wide variant: the tail weight w up to 0.5 and the scale ω up to 1e6, ξ and α as the paper's.

    The paper's grid cannot hold the spectra of deep residual nets as stated (second moments
    of 1e3 to 1e9 put ω and w on their ceilings), nor Fig S3's 95-100% degenerate estimates
    (they need w up to about 0.05): the paper's Fig S3 must have used a wider w range than
    its text gives. Both grids are reported (docs/reproduction.md, "Verdicts")."""
    return paper_grids(points, w=(1e-9, 0.5), omega=(1e-1, 1e6))


# A fit represents its moments when its misfit, the sum over k of |m̂_k − m_k| / |m_k|, is
# at most FIT_ERROR_MAX (each moment off by about 25% at most, on average) and no parameter
# sits at an end of its grid (where the best value may lie beyond it). Declared before the
# verdicts were computed with it; a claim resting on any other fit has the verdict "no fit".
FIT_ERROR_MAX = 1.0


def fit_diagnostics(fit):
    """{'fit_error', 'fit_edges', 'fit_ok'} of a MixtureFit under the declared rule above (fit_ok 1.0 or 0.0)."""
    ok = fit.misfit <= FIT_ERROR_MAX and not fit.at_grid_edge
    return {"fit_error": float(fit.misfit), "fit_edges": len(fit.at_grid_edge), "fit_ok": float(ok)}


def index_ranges(grids=None, window=WINDOW, sigma0=SIGMA0):
    """{'degenerate': (low, high), 'negative': (low, high)}: the values the degeneracy and negativity indices can
    take on a grid (default the paper's), so a plot can say how far an index can move at all.

    An index is w·s + (1 − w)·g, s the skew normal's mass in (or below) the window and g the narrow Gaussian's:
    linear in w, so its extremes lie at the ends of the w grid and of s. s is read on the grid's narrowest skew
    normals (the smallest ω), over its locations and shapes: they hold the largest mass a grid point can put in
    the window, and (locations far on either side) masses below it from 0 to 1."""
    g = _check_grids(paper_grids() if grids is None else grids)
    xi, alpha = numpy.meshgrid(g["xi"], g["alpha"], indexing="ij")
    omega = g["omega"].min()
    below = skewnorm.cdf(-window, alpha, loc=xi, scale=omega)
    inside = skewnorm.cdf(window, alpha, loc=xi, scale=omega) - below
    gauss = {"degenerate": float(ndtr(window / sigma0) - ndtr(-window / sigma0)),
             "negative": float(ndtr(-window / sigma0))}
    spans = {"degenerate": (float(inside.min()), float(inside.max())),
             "negative": (float(below.min()), float(below.max()))}
    out = {}
    for kind, (s_lo, s_hi) in spans.items():
        values = [w * s + (1.0 - w) * gauss[kind] for w in (g["w"].min(), g["w"].max()) for s in (s_lo, s_hi)]
        out[kind] = (float(min(values)), float(max(values)))
    return out


def _check_grids(grids):
    out = {}
    for name in PARAMETERS:
        if name not in grids:
            raise ValueError(f"the grids need a {name!r} entry; got {sorted(grids)}")
        g = numpy.asarray(grids[name], dtype=numpy.float64).ravel()
        if g.size == 0 or not numpy.all(numpy.isfinite(g)):
            raise ValueError(f"the {name} grid must be a non-empty array of finite numbers")
        out[name] = g
    if numpy.any(out["omega"] <= 0):
        raise ValueError("the scale ω must be positive on its whole grid")
    if numpy.any((out["w"] < 0) | (out["w"] > 1)):
        raise ValueError("the mixture weight w must lie in [0, 1] on its whole grid")
    return out


def _describe(g):
    spacing = "log" if g.size > 2 and numpy.all(g > 0) and numpy.allclose(numpy.diff(numpy.log(g)),
                                                                            numpy.log(g[1] / g[0])) else "linear"
    return {"min": float(g.min()), "max": float(g.max()), "points": int(g.size), "spacing": spacing}


def _denominators(target):
    floor = 1e-12 * numpy.maximum(target[1], numpy.finfo(numpy.float64).tiny) ** (numpy.arange(1, 5) / 2.0)
    return numpy.maximum(numpy.abs(target), floor)


def misfit(fitted, target):
    """The paper's fit error Σ_k |m̂_k − m_k| / |m_k| (fitted: any shape with last axis 4)."""
    target = numpy.asarray(target, dtype=numpy.float64)
    return numpy.sum(numpy.abs(numpy.asarray(fitted) - target) / _denominators(target), axis=-1)


def grid_search(target, grids=None, sigma0=SIGMA0, chunk_elements=CHUNK_ELEMENTS):
    """The best (w, ξ, ω, α) on the grid for moments `target`: (params dict, misfit, index dict).

    The skew-normal moments do not depend on w and the mixture's are affine in it, so
    each chunk of (ξ, ω, α) configurations is expanded once and all w values are
    scored together; `chunk_elements` bounds each float64 temporary (2 MiB by default, which
    stays in cache: about 0.06 s for the paper's 57⁴ grid on one core of the development machine).
    """
    target = numpy.asarray(target, dtype=numpy.float64).ravel()
    if target.shape != (4,) or not numpy.all(numpy.isfinite(target)):
        raise ValueError(f"the fit needs four finite moments, got {target!r}")
    g = _check_grids(paper_grids() if grids is None else grids)
    w, xi, om, al = g["w"], g["xi"], g["omega"], g["alpha"]
    gauss = normal_moments(sigma0)
    scale = 1.0 / _denominators(target)
    offset = gauss - target
    standard = standard_skewnorm_moments(al)
    shape = (xi.size, om.size, al.size)
    total = xi.size * om.size * al.size
    per = max(1, int(chunk_elements) // w.size)
    best, where = numpy.inf, None
    score = numpy.empty((w.size, min(per, total)))
    tmp = numpy.empty_like(score)
    for start in range(0, total, per):
        stop = min(total, start + per)
        ix, io, ia = numpy.unravel_index(numpy.arange(start, stop), shape)
        diff = _raw_from_standard(xi[ix], om[io], standard[ia]) - gauss   # (c, 4): SN − Gaussian moments
        c = stop - start
        s, t = score[:, :c], tmp[:, :c]
        s.fill(0.0)
        for k in range(4):
            numpy.multiply.outer(w, diff[:, k], out=t)
            t += offset[k]
            numpy.abs(t, out=t)
            t *= scale[k]
            s += t
        j = int(numpy.argmin(s))
        if s.flat[j] < best:          # strict: ties keep the earlier configuration
            best = float(s.flat[j])
            iw, jc = divmod(j, c)
            where = (iw, int(ix[jc]), int(io[jc]), int(ia[jc]))
    if where is None:
        raise ValueError("the misfit is not finite anywhere on the grid")
    index = dict(zip(PARAMETERS, where))
    params = {name: float(g[name][i]) for name, i in index.items()}
    return params, best, index


def _refine(target, start, grids, sigma0):
    """Nelder–Mead from the best grid point in (log10 w, ξ, log10 ω, α), kept inside the grid's box."""
    lo = numpy.array([math.log10(max(grids["w"].min(), 1e-300)), grids["xi"].min(),
                      math.log10(grids["omega"].min()), grids["alpha"].min()])
    hi = numpy.array([math.log10(max(grids["w"].max(), 1e-300)), grids["xi"].max(),
                      math.log10(grids["omega"].max()), grids["alpha"].max()])

    def unpack(z):
        z = numpy.clip(z, lo, hi)
        return min(10.0 ** z[0], 1.0), z[1], 10.0 ** z[2], z[3]

    def f(z):
        return float(misfit(mixture_moments(*unpack(z), sigma0=sigma0), target))

    z0 = numpy.array([math.log10(max(start["w"], 1e-300)), start["xi"], math.log10(start["omega"]), start["alpha"]])
    res = optimize.minimize(f, z0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    params = dict(zip(PARAMETERS, (float(v) for v in unpack(res.x))))
    return params, f(res.x)


@dataclass
class MixtureFit:
    """The fitted q(λ) = w·SN(ξ, ω, α) + (1 − w)·N(0, σ0²), its fit error and its window fractions."""
    w: float
    xi: float
    omega: float
    alpha: float
    sigma0: float
    misfit: float          # the paper's fit error at the fit (`misfit`); stored as "objective"
    target_moments: numpy.ndarray
    fitted_moments: numpy.ndarray
    fractions: dict
    grid: dict
    grid_index: dict
    at_grid_edge: list
    refined: bool = False
    grid_best: dict = None
    seconds: float = 0.0

    @property
    def params(self):
        return {"w": self.w, "xi": self.xi, "omega": self.omega, "alpha": self.alpha}

    @property
    def window(self):
        return self.fractions["window"]

    @property
    def degeneracy_index(self):
        return self.fractions["degenerate"]

    @property
    def negativity_index(self):
        return self.fractions["negative"]

    def cdf(self):
        return mixture_cdf(self.w, self.xi, self.omega, self.alpha, self.sigma0)

    def logpdf(self, lam):
        return mixture_logpdf(lam, self.w, self.xi, self.omega, self.alpha, self.sigma0)

    def to_dict(self):
        return jsonable({
            "params": self.params, "sigma0": self.sigma0, "objective": self.misfit,
            "target_moments": self.target_moments, "fitted_moments": self.fitted_moments,
            "fractions": self.fractions, "degeneracy_index": self.degeneracy_index,
            "negativity_index": self.negativity_index, "window": self.window,
            "grid": self.grid, "grid_index": self.grid_index, "at_grid_edge": self.at_grid_edge,
            "refined": self.refined, "grid_best": self.grid_best, "seconds": self.seconds})


def fit_mixture(moments, grids=None, sigma0=SIGMA0, window=WINDOW, refine=False, chunk_elements=CHUNK_ELEMENTS):
    """Fit the paper's mixture to moments m_1..m_4 by grid search (``paper_grids()`` by default).

    grids: dict of 1-D arrays "w", "xi", "omega", "alpha" (any sizes and spacings).
    window: the degeneracy window for ``analysis.spectra.window.fractions``.
    refine: polish the best grid point by Nelder–Mead (not the paper's method; off).
    """
    start = time.perf_counter()
    target = numpy.asarray(moments, dtype=numpy.float64).ravel()
    g = _check_grids(paper_grids() if grids is None else grids)
    params, best, index = grid_search(target, g, sigma0, chunk_elements)
    edge = [name for name, i in index.items() if g[name].size > 1 and i in (0, g[name].size - 1)]
    grid_best = None
    if refine:
        grid_best = {"params": dict(params), "objective": best, "grid_index": dict(index)}
        polished, value = _refine(target, params, g, sigma0)
        if value < best:
            params, best = polished, value
    fitted = mixture_moments(params["w"], params["xi"], params["omega"], params["alpha"], sigma0)
    cdf = mixture_cdf(params["w"], params["xi"], params["omega"], params["alpha"], sigma0)
    return MixtureFit(params["w"], params["xi"], params["omega"], params["alpha"], float(sigma0), float(best),
                      target, fitted, fractions(cdf, window), {name: _describe(g[name]) for name in PARAMETERS},
                      index, edge, bool(refine), grid_best, time.perf_counter() - start)
