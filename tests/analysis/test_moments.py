"""The paper's moment method: skew-normal and mixture formulas, the grid fit, Skilling's estimates."""
import json

import numpy
import pytest
from scipy import integrate
from scipy.stats import norm, skewnorm

import minigrad
from analysis.spectra import density as D, mixture_fit as F, moments as M
from analysis.spectra.window import WINDOW, fractions

ALPHAS = [-10.0, -3.7, -0.4, 0.0, 0.25, 2.0, 9.0]


# --------------------------------------------------------------------------- closed forms

@pytest.mark.parametrize("alpha", ALPHAS)
def test_standard_skewnorm_moments_match_scipy(alpha):
    ours = F.standard_skewnorm_moments(alpha)
    theirs = [skewnorm.moment(k, alpha) for k in range(1, 5)]
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("xi, omega", [(0.0, 1.0), (-3.0, 0.5), (12.5, 40.0), (-50.0, 1e3), (0.2, 0.1)])
def test_raw_skewnorm_moments_match_scipy(alpha, xi, omega):
    ours = F.skewnorm_moments(xi, omega, alpha)
    theirs = [skewnorm.moment(k, alpha, loc=xi, scale=omega) for k in range(1, 5)]
    scale = [(abs(xi) + omega) ** k for k in range(1, 5)]   # cancellation scale of the k-th raw moment
    assert numpy.all(numpy.abs(ours - theirs) <= 1e-12 * numpy.array(scale))


def test_raw_skewnorm_moments_match_quadrature_and_broadcast():
    xi, omega, alpha = -1.5, 2.0, -4.0
    pdf = skewnorm(alpha, loc=xi, scale=omega).pdf
    quad = [integrate.quad(lambda x: x ** k * pdf(x), -60, 40, limit=200)[0] for k in range(1, 5)]
    numpy.testing.assert_allclose(F.skewnorm_moments(xi, omega, alpha), quad, rtol=1e-9)
    grid = F.skewnorm_moments(numpy.array([[0.0], [1.0]]), 2.0, numpy.array([-1.0, 0.0, 3.0]))
    assert grid.shape == (2, 3, 4)
    numpy.testing.assert_allclose(grid[1, 2], F.skewnorm_moments(1.0, 2.0, 3.0))


@pytest.mark.parametrize("w, xi, omega, alpha", [(1e-4, -20.0, 30.0, -6.0), (0.3, 0.5, 0.2, 1.5), (1.0, 2.0, 3.0, 0.0)])
def test_mixture_moments_cdf_and_density(w, xi, omega, alpha):
    s0 = F.SIGMA0
    expected = [w * skewnorm.moment(k, alpha, loc=xi, scale=omega) + (1 - w) * norm.moment(k, scale=s0)
                for k in range(1, 5)]
    numpy.testing.assert_allclose(F.mixture_moments(w, xi, omega, alpha), expected, rtol=1e-11)
    cdf = F.mixture_cdf(w, xi, omega, alpha)
    for x in (-0.5, -WINDOW, 0.0, WINDOW, 7.0):
        assert cdf(x) == pytest.approx(w * skewnorm.cdf(x, alpha, loc=xi, scale=omega) + (1 - w) * norm.cdf(x, scale=s0),
                                       abs=1e-14)
    lam = numpy.array([-30.0, -1.0, -1e-3, 0.0, 2e-3, 0.4, 25.0])
    direct = w * skewnorm.pdf(lam, alpha, loc=xi, scale=omega) + (1 - w) * norm.pdf(lam, scale=s0)
    numpy.testing.assert_allclose(numpy.exp(F.mixture_logpdf(lam, w, xi, omega, alpha)), direct, rtol=1e-12)


def test_pure_narrow_gaussian_is_degenerate_at_the_default_window():
    f = fractions(F.mixture_cdf(0.0, 0.0, 1.0, 0.0))
    assert f["degenerate"] == pytest.approx(0.9973, abs=1e-4)
    assert f["negative"] == pytest.approx(f["positive"]) == pytest.approx(norm.cdf(-3.0))


# --------------------------------------------------------------------------- the grid fit

GRID = F.paper_grids()


@pytest.mark.parametrize("index", [(30, 20, 25, 40), (5, 50, 40, 3), (50, 28, 10, 28), (56, 0, 56, 56)])
def test_fit_recovers_on_grid_parameters_exactly(index):
    truth = {name: GRID[name][i] for name, i in zip(F.PARAMETERS, index)}
    target = F.mixture_moments(**truth)
    fit = F.fit_mixture(target)
    assert fit.grid_index == dict(zip(F.PARAMETERS, index))
    assert fit.params == pytest.approx(truth, rel=1e-15)
    assert fit.misfit < 1e-12
    numpy.testing.assert_allclose(fit.fitted_moments, target, rtol=1e-12)
    assert fit.fractions == fractions(F.mixture_cdf(**truth), WINDOW)
    assert not fit.refined and fit.grid_best is None
    assert fit.at_grid_edge == [name for name, i in zip(F.PARAMETERS, index) if i in (0, 56)]


def test_fit_off_grid_lands_next_to_the_truth():
    truth = {"w": 3e-5, "xi": -7.3, "omega": 12.2, "alpha": 3.3}
    fit = F.fit_mixture(F.mixture_moments(**truth))
    for name, value in truth.items():        # the grid values on either side of the truth
        lower = numpy.searchsorted(GRID[name], value) - 1
        assert fit.grid_index[name] in (lower, lower + 1), name
    assert fit.misfit < 0.5
    true_fractions = fractions(F.mixture_cdf(**truth))
    for key in ("negative", "degenerate", "positive"):
        assert fit.fractions[key] == pytest.approx(true_fractions[key], abs=1e-4)


def test_fit_uses_the_window_module_and_its_argument():
    target = F.mixture_moments(1e-4, -2.0, 5.0, -1.0)
    for window in (WINDOW, 0.5):
        fit = F.fit_mixture(target, window=window)
        assert fit.fractions == fractions(fit.cdf(), window)
        assert fit.window == window
        assert fit.degeneracy_index == fit.fractions["degenerate"]
        assert fit.negativity_index == fit.fractions["negative"]


def test_fit_of_a_pure_narrow_gaussian_is_degenerate():
    fit = F.fit_mixture(F.normal_moments())          # m_1 = m_3 = 0: floored denominators, no division by zero
    assert numpy.isfinite(fit.misfit)
    assert fit.degeneracy_index == pytest.approx(0.997, abs=1e-3)


def test_grid_arguments_chunking_and_refinement():
    grids = F.paper_grids(points=9, w=(1e-3, 0.5), xi=(-2.0, 2.0), omega=(0.05, 5.0), alpha=(-4.0, 4.0))
    truth = {"w": 0.05, "xi": 0.3, "omega": 0.8, "alpha": -1.1}
    target = F.mixture_moments(**truth)
    whole = F.fit_mixture(target, grids=grids)
    tiny = F.fit_mixture(target, grids=grids, chunk_elements=7)          # one configuration per chunk
    assert whole.grid_index == tiny.grid_index and whole.misfit == tiny.misfit
    assert whole.grid == {"w": {"min": 1e-3, "max": 0.5, "points": 9, "spacing": "log"},
                          "xi": {"min": -2.0, "max": 2.0, "points": 9, "spacing": "linear"},
                          "omega": {"min": 0.05, "max": 5.0, "points": 9, "spacing": "log"},
                          "alpha": {"min": -4.0, "max": 4.0, "points": 9, "spacing": "linear"}}
    polished = F.fit_mixture(target, grids=grids, refine=True)
    assert polished.refined and polished.grid_best["objective"] == whole.misfit
    assert polished.misfit <= whole.misfit
    for name in F.PARAMETERS:                     # the refinement stays inside the grid's box
        assert grids[name].min() <= polished.params[name] <= grids[name].max()


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="four finite moments"):
        F.fit_mixture([1.0, 2.0, numpy.nan, 4.0])
    with pytest.raises(ValueError, match="positive"):
        F.fit_mixture([0.1, 1.0, 0.1, 3.0], grids={**GRID, "omega": numpy.array([0.0, 1.0])})
    with pytest.raises(ValueError, match="'alpha'"):
        F.fit_mixture([0.1, 1.0, 0.1, 3.0], grids={k: GRID[k] for k in ("w", "xi", "omega")})


def test_density_curve_is_a_normalized_log_density():
    fit = F.fit_mixture(F.mixture_moments(GRID["w"][50], GRID["xi"][30], GRID["omega"][5], GRID["alpha"][40]))
    lam, logp = D.density_curve(fit)
    assert lam.shape == logp.shape == (2001,) and numpy.all(numpy.isfinite(logp))
    assert lam[0] < min(-WINDOW, fit.xi) and lam[-1] > max(WINDOW, fit.xi)
    fine = numpy.concatenate([numpy.linspace(-0.01, 0.01, 20001), numpy.linspace(lam[0], lam[-1], 200001)])
    fine.sort()
    assert numpy.trapezoid(numpy.exp(fit.logpdf(fine)), fine) == pytest.approx(1.0, abs=2e-3)


# --------------------------------------------------------------------------- Skilling's estimates

class MatrixOperator:
    """A symmetric matrix as an operator; `device` puts its products on the strict device-like stand-in."""

    def __init__(self, matrix, device="cpu"):
        self.device = device
        self.matrix = minigrad.to_device(matrix, device)
        self.dim = len(matrix)
        self.products = 0

    def matvec(self, v):
        self.products += 1
        return self.matrix @ minigrad.to_device(v, self.device)


def random_symmetric(n, seed):
    """Q diag(λ) Qᵀ with a spectrum like a network's: a degenerate bulk, a few negative and large outliers."""
    rng = numpy.random.default_rng(seed)
    lam = numpy.concatenate([rng.normal(0, 1e-3, n - 30), rng.uniform(-2.0, -0.1, 10), rng.lognormal(0.5, 1.0, 20)])
    q, _ = numpy.linalg.qr(rng.standard_normal((n, n)))
    a = (q * lam) @ q.T
    a = (a + a.T) / 2
    exact = numpy.linalg.eigvalsh(a)
    return a, numpy.array([numpy.mean(exact ** k) for k in range(1, 5)])


@pytest.mark.parametrize("device", ["cpu", "strict"])
@pytest.mark.parametrize("distribution", M.DISTRIBUTIONS)
def test_skilling_moments_match_exact_moments_of_a_matrix(device, distribution):
    a, exact = random_symmetric(300, seed=3)
    op = MatrixOperator(a, device)
    est = M.estimate_moments(op, probes=60, seed=11, distribution=distribution)
    assert est.probe_moments.shape == (60, 4) and op.products == 120
    assert numpy.all(numpy.abs(est.mean - exact) < 4 * est.standard_error), (est.mean, exact, est.standard_error)
    assert numpy.all(est.standard_error < 0.5 * numpy.abs(exact))


def test_rademacher_probes_are_exact_on_a_diagonal_and_probes_are_reproducible():
    d = numpy.linspace(-1.0, 3.0, 50)
    est = M.estimate_moments(MatrixOperator(numpy.diag(d)), probes=3, distribution="rademacher")
    numpy.testing.assert_allclose(est.probe_moments, numpy.tile([numpy.mean(d ** k) for k in range(1, 5)], (3, 1)),
                                  rtol=1e-13)
    numpy.testing.assert_allclose(est.standard_error, 0.0, atol=1e-13)
    a, _ = random_symmetric(40, seed=0)
    five = M.estimate_moments(MatrixOperator(a), probes=5, seed=7).probe_moments
    three = M.estimate_moments(MatrixOperator(a), probes=3, seed=7).probe_moments
    numpy.testing.assert_array_equal(five[:3], three)              # probe i does not depend on the count
    assert not numpy.array_equal(M.estimate_moments(MatrixOperator(a), probes=3, seed=8).probe_moments, three)
    single = M.estimate_moments(MatrixOperator(a), probes=1)
    assert numpy.all(numpy.isnan(single.standard_error)) and single.to_dict()["standard_errors"] == [None] * 4
    with pytest.raises(ValueError, match="probe distribution"):
        M.estimate_moments(MatrixOperator(a), distribution="uniform")
    with pytest.raises(ValueError, match="at least one probe"):
        M.estimate_moments(MatrixOperator(a), probes=0)


@pytest.fixture(scope="module")
def small_net_hessian():
    from models import data
    import models
    from analysis.spectra.hessian import HessianOperator
    ds = data.load("synthetic", synthetic_size=(300, 10), pca=128, mirror=False, dtype=numpy.float64, progress=False)
    model = models.MLP(inputs=128, width=8, depth=4, classes=20, skip="residual", rng=0, dtype="float64")
    op = HessianOperator(model, ds.train_x, ds.train_y, batch_size=128)
    # The reference from the same Hessian in one batch of all 300 examples (one product per column, not three):
    # H = Σ_b (n_b / N) H_b, so both operators are one matrix up to rounding, far below the estimates' errors.
    whole = HessianOperator(model, ds.train_x, ds.train_y, batch_size=None)
    exact = numpy.linalg.eigvalsh(minigrad.to_host(whole.dense()))
    return op, numpy.array([numpy.mean(exact ** k) for k in range(1, 5)])


def test_skilling_moments_match_a_small_nets_hessian(small_net_hessian):
    op, exact = small_net_hessian
    est = M.estimate_moments(op, probes=40, seed=0)
    assert numpy.all(numpy.abs(est.mean - exact) < 4 * est.standard_error), (est.mean, exact, est.standard_error)


def test_moment_spectrum_end_to_end_is_json_ready(small_net_hessian):
    op, _ = small_net_hessian
    result = M.moment_spectrum(op, probes=4, seed=1)
    out = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert out["operator"] == op.info() and out["probes"] == 4 and out["hvps"] == 8
    assert out["window"] == WINDOW and out["fractions"] == result.fit.fractions
    assert len(out["moments"]) == len(out["standard_errors"]) == 4 and len(out["probe_moments"]) == 4
    assert out["fit"]["params"] == result.fit.params and out["fit"]["grid"]["w"]["points"] == 57
    numpy.testing.assert_allclose(out["fit"]["target_moments"], result.moments)
    assert result.fit.fractions == fractions(result.fit.cdf(), WINDOW)
    assert out["degeneracy_index"] == result.degeneracy_index > 0.99
    lam, logp = result.density_curve(numpy.linspace(-1, 1, 11))
    numpy.testing.assert_allclose(logp, result.fit.logpdf(lam))


def test_fit_diagnostics_flag_a_stuck_fit_and_pass_a_good_one():
    from analysis.spectra.mixture_fit import (FIT_ERROR_MAX, fit_diagnostics, fit_mixture, mixture_moments,
                                              paper_grids, wide_grids)
    grids = paper_grids()
    inside = {k: float(grids[k][20]) for k in ("w", "xi", "omega", "alpha")}       # a grid point, no edge
    good = fit_diagnostics(fit_mixture(mixture_moments(**inside)))
    assert good["fit_ok"] == 1.0 and good["fit_edges"] == 0 and good["fit_error"] < 1e-9
    wide_spectrum = mixture_moments(w=0.3, xi=0.0, omega=5e4, alpha=0.0)           # beyond the paper's grid
    stuck = fit_mixture(wide_spectrum)
    assert stuck.at_grid_edge and fit_diagnostics(stuck)["fit_ok"] == 0.0
    assert fit_diagnostics(stuck)["fit_error"] == stuck.misfit
    assert fit_mixture(wide_spectrum, wide_grids()).misfit < stuck.misfit < float("inf")
    assert FIT_ERROR_MAX == 1.0
