"""Skilling's moments of the Hessian's eigenvalue density, and the paper's moment method end to end.

m_k = (1/N) rᵀ H^k r for k = 1..4 from v_1 = H r and v_2 = H v_1, two Hessian-vector products per
probe (Skilling 1989); `moment_spectrum` fits the paper's mixture (mixture_fit.py) to their mean and
reads its degeneracy and negativity indices. Why 10 probes, Gaussian by default, and what the sampling
error looks like: docs/spectra.md. Vector arithmetic stays on the operator's device; only the dot
products come back to the host, explicitly.
"""
import math
import time
from dataclasses import dataclass, field

import numpy

import minigrad
from models.files import jsonable
from minigrad.backend import device_of

from .density import density_curve
from .mixture_fit import MixtureFit, SIGMA0, fit_mixture
from .window import WINDOW

PROBES = 10            # default number of probe vectors (docs/spectra.md)
DISTRIBUTIONS = ("gaussian", "rademacher")


# --------------------------------------------------------------------------- Skilling's moments

def _probe(rng, n, distribution):
    if distribution == "gaussian":
        return rng.standard_normal(n)
    return rng.integers(0, 2, n).astype(numpy.float64) * 2.0 - 1.0


@dataclass
class MomentEstimate:
    """Per-probe Skilling moments (probes × 4, columns m_1..m_4) and how they were drawn."""
    probe_moments: numpy.ndarray
    distribution: str = "gaussian"
    seed: int = 0
    dim: int = 0
    seconds: float = 0.0

    @property
    def probes(self):
        return len(self.probe_moments)

    @property
    def mean(self):
        return self.probe_moments.mean(axis=0)

    @property
    def standard_error(self):
        """The standard error of the mean over probes (NaN with a single probe)."""
        if self.probes < 2:
            return numpy.full(4, numpy.nan)
        return self.probe_moments.std(axis=0, ddof=1) / math.sqrt(self.probes)

    def to_dict(self):
        return jsonable({"moments": self.mean, "standard_errors": self.standard_error,
                          "probe_moments": self.probe_moments, "probes": self.probes,
                          "distribution": self.distribution, "seed": self.seed, "dim": self.dim,
                          "hvps": 2 * self.probes, "seconds": self.seconds})


def estimate_moments(operator, probes=PROBES, seed=0, distribution="gaussian"):
    """Skilling's estimates of m_1..m_4 of the eigenvalue density of `operator` (two products per probe).

    operator: anything with `.dim` and `.matvec(v)` for a flat float64 vector v (a host
        NumPy array on the first call, the operator's own arrays after), returning a flat
        vector of any array module: `analysis.spectra.HessianOperator`, for one.
    An operator of S ensemble members (`.rows == (S,)`, vectors (S, dim)) gives a list of S
    estimates, every member probed with the same vectors its single net would get.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown probe distribution {distribution!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    probes = int(probes)
    if probes < 1:
        raise ValueError(f"need at least one probe vector, got {probes}")
    n = int(operator.dim)
    rows_of = tuple(getattr(operator, "rows", ()))
    # the operator's Device (a HessianOperator's is its model's; a hand-made operator's name goes through the one
    # resolver, once); an operator without one: its products say where they are
    device = getattr(operator, "device", None)
    device = None if device is None else minigrad.get_device(device)
    rng = numpy.random.default_rng(seed)
    rows = numpy.empty(rows_of + (probes, 4))
    start = time.perf_counter()
    for i in range(probes):
        r_host = _probe(rng, n, distribution)
        v1 = operator.matvec(numpy.broadcast_to(r_host, rows_of + (n,))).astype(numpy.float64, copy=False)
        v2 = operator.matvec(v1).astype(numpy.float64, copy=False)
        r = minigrad.to_device(r_host, device if device is not None else device_of(v1))
        dots = [_dot(r, v1), _dot(v1, v1), _dot(v1, v2), _dot(v2, v2)]
        rows[..., i, :] = numpy.stack([minigrad.to_host(d) for d in dots], axis=-1)
    rows /= n
    seconds = (time.perf_counter() - start) / (rows_of[0] if rows_of else 1)
    if rows_of:
        return [MomentEstimate(member, distribution, seed, n, seconds) for member in rows]
    return MomentEstimate(rows, distribution, seed, n, seconds)


def _dot(a, b):
    """a · b: one number for vectors; for (S, dim) rows, one per member, each the same dot product its single
    net's estimate takes (so an ensemble's moments are its single runs' to the last bit)."""
    xp = minigrad.get_array_module(b)
    if b.ndim == 1:
        return xp.dot(a, b)
    return xp.stack([xp.dot(a if a.ndim == 1 else a[s], b[s]) for s in range(len(b))])


# --------------------------------------------------------------------------- all together

@dataclass
class MomentSpectrum:
    """Skilling's moments of one operator, the mixture fitted to their mean, and where they came from."""
    estimate: MomentEstimate
    fit: MixtureFit
    operator_info: dict = field(default=None)

    @property
    def moments(self):
        return self.estimate.mean

    @property
    def standard_errors(self):
        return self.estimate.standard_error

    @property
    def fractions(self):
        return self.fit.fractions

    @property
    def degeneracy_index(self):
        return self.fit.degeneracy_index

    @property
    def negativity_index(self):
        return self.fit.negativity_index

    def density_curve(self, lam=None, points=2001):
        return density_curve(self.fit, lam, points)

    def to_dict(self):
        moments = self.estimate.to_dict()
        return jsonable({
            "method": "skilling-moments+skewnormal-mixture-grid",
            "moments": moments["moments"], "standard_errors": moments["standard_errors"],
            "probe_moments": moments["probe_moments"], "probes": moments["probes"],
            "distribution": moments["distribution"], "seed": moments["seed"], "hvps": moments["hvps"],
            "fit": self.fit.to_dict(), "fractions": self.fit.fractions,
            "degeneracy_index": self.degeneracy_index, "negativity_index": self.negativity_index,
            "window": self.fit.window, "operator": self.operator_info,
            "seconds": {"moments": self.estimate.seconds, "fit": self.fit.seconds}})


def moment_spectrum(operator, probes=PROBES, seed=0, window=WINDOW, grids=None, sigma0=SIGMA0,
                    distribution="gaussian", refine=False):
    """The paper's method end to end: Skilling's moments of `operator`, the grid-searched mixture, its indices.

    For an operator of ensemble members, a list: one MomentSpectrum per member."""
    estimates = estimate_moments(operator, probes, seed, distribution)
    info = operator.info() if hasattr(operator, "info") else {"dim": int(operator.dim)}
    spectra = [MomentSpectrum(estimate, fit_mixture(estimate.mean, grids, sigma0, window, refine), info)
               for estimate in (estimates if isinstance(estimates, list) else [estimates])]
    return spectra if isinstance(estimates, list) else spectra[0]
