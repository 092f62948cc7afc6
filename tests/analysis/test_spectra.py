"""Spectral methods: Lanczos, stochastic Lanczos quadrature (SLQ) and the exact spectrum.

Ladder: random symmetric matrices Q diag(λ) Qᵀ with chosen spectra (Lanczos recovers
them, Gauss quadrature is exact to degree 2m-1, breakdown warns, ghosts appear only
without reorthogonalization), then the paper's 4,852-parameter validation net
(10 x 16 on 128 PCA inputs) where SLQ is checked against the exact eigenvalues.
Matrix tests run on NumPy, on the strict CuPy stand-in and on CUDA when present.
"""
import functools
import json
import warnings

import numpy
import pytest

from models import data
import minigrad as mg
import minigrad.testing.strict  # noqa: F401  (registers "strict")
import models
from models.files import jsonable
from analysis.spectra.exact import exact_spectrum, spectrum_summary
from analysis.spectra.hessian import HessianOperator
from analysis.spectra.lanczos import LanczosBreakdown, gauss_quadrature, lanczos
from analysis.spectra.density import density, density_of, pooled, slq_fractions
from analysis.spectra.slq import rademacher, slq_spectrum
from analysis.spectra.window import WINDOW, discrete_cdf, fractions


class MatrixOperator:
    """A dense symmetric matrix as an operator on `device`, multiplying in `dtype` (float64 vectors in and out)."""

    def __init__(self, matrix, device="cpu", dtype=numpy.float64):
        self.host = numpy.asarray(matrix, dtype=numpy.float64)
        self.matrix = mg.to_device(self.host.astype(dtype), device)
        self.dim, self.device, self.dtype = len(matrix), device, dtype
        self.products = 0

    def matvec(self, v):
        self.products += 1
        return (self.matrix @ v.astype(self.dtype)).astype(numpy.float64)

    def dense(self):
        return self.matrix.astype(numpy.float64)

    def info(self):
        return {"dim": self.dim, "dtype": numpy.dtype(self.dtype).name}


def with_spectrum(eigenvalues, seed=0):
    """Q diag(λ) Qᵀ with a random orthogonal Q (host float64)."""
    eigenvalues = numpy.asarray(eigenvalues, dtype=numpy.float64)
    q, _ = numpy.linalg.qr(numpy.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = (q * eigenvalues) @ q.T
    return (a + a.T) / 2


def start_vector(dim, device, seed=1):
    return mg.to_device(numpy.random.default_rng(seed).standard_normal(dim), device)


def ritz(alphas, betas):
    return gauss_quadrature(alphas, betas)[0]


# --- Lanczos on matrices with known spectra -------------------------------------------------------

SPECTRUM = numpy.concatenate([[-3.0, -1.2], numpy.linspace(-0.8, -0.01, 12),
                              numpy.linspace(-2e-4, 2e-4, 20),        # clustered at zero, distinct
                              numpy.linspace(0.02, 1.5, 24), [2.5, 4.0]])


def test_full_lanczos_recovers_every_eigenvalue(device):
    """steps = dim with full reorthogonalization: T is A in another orthonormal basis, so its eigenvalues are A's."""
    op = MatrixOperator(with_spectrum(SPECTRUM), device)
    alphas, betas = lanczos(op.matvec, op.dim, start_vector(op.dim, device), op.dim)
    assert alphas.dtype == betas.dtype == numpy.float64 and isinstance(alphas, numpy.ndarray)
    assert len(alphas) == op.dim and len(betas) == op.dim - 1
    numpy.testing.assert_allclose(ritz(alphas, betas), numpy.sort(SPECTRUM), rtol=0, atol=1e-8)


def test_basis_is_orthonormal_and_tridiagonalizes(device):
    op = MatrixOperator(with_spectrum(SPECTRUM), device)
    alphas, betas, basis = lanczos(op.matvec, op.dim, start_vector(op.dim, device), 30, return_basis=True)
    assert mg.get_array_module(basis) is mg.get_array_module(op.matrix)     # the basis stays on the device
    v = mg.to_host(basis)
    assert v.shape == (30, op.dim) and v.dtype == numpy.float64
    numpy.testing.assert_allclose(v @ v.T, numpy.eye(30), atol=1e-12)
    t = v @ op.host @ v.T
    numpy.testing.assert_allclose(t, numpy.diag(alphas) + numpy.diag(betas, 1) + numpy.diag(betas, -1), atol=1e-10)


def test_extreme_ritz_values_converge_long_before_dim():
    """Extreme, separated eigenvalues are found in 40 steps on a 400-dimensional matrix."""
    rng = numpy.random.default_rng(5)
    spectrum = numpy.concatenate([[-2.0, -1.6], rng.uniform(-1.0, 1.0, 396), [2.2, 3.0]])
    op = MatrixOperator(with_spectrum(spectrum, seed=2))
    theta = ritz(*lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), 40))
    numpy.testing.assert_allclose(theta[:2], [-2.0, -1.6], rtol=0, atol=1e-8)
    numpy.testing.assert_allclose(theta[-2:], [2.2, 3.0], rtol=0, atol=1e-8)
    assert op.products == 40


def test_float32_operator_gives_float64_recurrences(device):
    """A float32 matvec: α, β and the basis stay float64; Ritz values match to float32 accuracy."""
    op32 = MatrixOperator(with_spectrum(SPECTRUM), device, dtype=numpy.float32)
    alphas, betas, basis = lanczos(op32.matvec, op32.dim, start_vector(op32.dim, device), 40, return_basis=True)
    assert alphas.dtype == betas.dtype == numpy.float64 and basis.dtype == numpy.float64
    op64 = MatrixOperator(with_spectrum(SPECTRUM), device)
    exact = ritz(*lanczos(op64.matvec, op64.dim, start_vector(op64.dim, device), 40))
    numpy.testing.assert_allclose(ritz(alphas, betas), exact, rtol=0, atol=1e-5)
    assert abs(ritz(alphas, betas)[-1] - 4.0) < 1e-5


def test_breakdown_warns_with_the_step_and_stops():
    """Three distinct eigenvalues: the Krylov space is 3-dimensional, T is exact after 3 steps."""
    op = MatrixOperator(with_spectrum(numpy.repeat([-1.0, 0.0, 2.0], [10, 30, 20])))
    with pytest.warns(LanczosBreakdown, match="step 3 of 10"):
        alphas, betas = lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), 10)
    assert len(alphas) == 3 and len(betas) == 2
    numpy.testing.assert_allclose(ritz(alphas, betas), [-1.0, 0.0, 2.0], atol=1e-12)


def test_no_warning_without_breakdown():
    op = MatrixOperator(with_spectrum(SPECTRUM))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), 50)


def test_without_reorthogonalization_ghosts_appear():
    """The plain recurrence agrees at first, then duplicates converged eigenvalues ("ghosts");
    full reorthogonalization (the default) never does."""
    rng = numpy.random.default_rng(3)
    spectrum = numpy.concatenate([rng.uniform(0.0, 1.0, 198), [5.0, 10.0]])
    op = MatrixOperator(with_spectrum(spectrum, seed=4))
    start = start_vector(op.dim, "cpu")
    plain = lanczos(op.matvec, op.dim, start, 120, reorthogonalize=False)
    full = lanczos(op.matvec, op.dim, start, 120)
    numpy.testing.assert_allclose(plain[0][:8], full[0][:8], rtol=1e-10)
    copies = lambda theta: int(numpy.sum(numpy.abs(theta - 10.0) < 1e-6))  # noqa: E731
    assert copies(ritz(*full)) == 1
    assert copies(ritz(*plain)) >= 2


def test_progress_is_called_once_per_step():
    op = MatrixOperator(with_spectrum(SPECTRUM))
    calls = []
    lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), 12, progress=calls.append)
    assert calls == list(range(1, 13))


def test_lanczos_rejects_bad_arguments():
    op = MatrixOperator(with_spectrum(SPECTRUM))
    with pytest.raises(ValueError, match="steps"):
        lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), op.dim + 1)
    with pytest.raises(ValueError, match="zero"):
        lanczos(op.matvec, op.dim, numpy.zeros(op.dim), 5)
    with pytest.raises(ValueError, match="reorthogonalize"):
        lanczos(op.matvec, op.dim, start_vector(op.dim, "cpu"), 5, reorthogonalize=False, return_basis=True)


# --- Gauss quadrature and SLQ on a matrix with a known spectrum -------------------------------------

def test_gauss_quadrature_is_exact_to_degree_2m_minus_1(device):
    """Σ τ θ^k = q̂ᵀ A^k q̂ for k <= 2m - 1 (m = 6 steps), and not beyond (k = 2m)."""
    op = MatrixOperator(with_spectrum(SPECTRUM / 4.0), device)          # |λ| <= 1: powers stay O(1)
    r = rademacher(numpy.random.default_rng(7), op.dim)
    steps = 6
    nodes, weights = gauss_quadrature(*lanczos(op.matvec, op.dim, mg.to_device(r, device), steps))
    assert abs(weights.sum() - 1) < 1e-12
    power = r.copy()
    for k in range(1, 2 * steps + 1):
        power = op.host @ power
        exact = r @ power
        estimate = numpy.sum(weights * nodes ** k)
        if k <= 2 * steps - 1:
            assert abs(estimate - exact) < 1e-10, k
        else:
            assert abs(estimate - exact) > 1e-8           # the degree bound is sharp


def known_spectrum(dim=1000, seed=0):
    """60% exactly 0, 4% tiny but nonzero (inside the window), 14% negative, 22% positive; separated ends."""
    rng = numpy.random.default_rng(seed)
    counts = {"zero": int(0.60 * dim), "tiny": int(0.04 * dim), "neg": int(0.14 * dim)}
    counts["pos"] = dim - sum(counts.values())
    return numpy.concatenate([numpy.zeros(counts["zero"]), rng.uniform(-1e-3, 1e-3, counts["tiny"]),
                              -rng.uniform(0.05, 1.0, counts["neg"] - 1), [-1.5],
                              rng.uniform(0.05, 2.0, counts["pos"] - 1), [3.0]])


def test_slq_fractions_and_moments_match_a_known_spectrum(device):
    """SLQ (100 steps, 10 probes) on a 1,000 x 1,000 matrix: fractions within 0.03 of the exact ones.

    The tolerance: one Rademacher probe sees a rank-k eigenspace with weight k/N ± sqrt(2 k (N-k) / N³),
    0.022 for the 640 degenerate eigenvalues of N = 1,000; ten probes give 0.007, and 0.03 is four of
    those. The quadrature itself resolves the window exactly here (no eigenvalue within 0.05 of ±w).
    Moments: within five standard errors of (1/N) tr A^k.
    """
    spectrum = known_spectrum()
    op = MatrixOperator(with_spectrum(spectrum), device)
    exact = exact_spectrum(op)
    numpy.testing.assert_allclose(exact["eigenvalues"], numpy.sort(spectrum), atol=1e-12)
    truth = fractions(discrete_cdf(spectrum))
    assert truth["degenerate"] == pytest.approx(0.64) and truth["negative"] == pytest.approx(0.14)
    assert exact["fractions"] == pytest.approx(truth)
    result = slq_spectrum(op, steps=100, probes=10, seed=0)
    for key in ("negative", "degenerate", "positive"):
        assert abs(result["fractions"][key] - truth[key]) < 0.03, key
    n = len(spectrum)
    for k in (1, 2, 3, 4):
        stderr = numpy.sqrt(2 * numpy.mean(spectrum ** (2 * k)) / n / 10)
        assert abs(result["moments"][str(k)] - exact["moments"][str(k)]) < 5 * stderr, k
    assert result["ritz_max"] == pytest.approx(spectrum.max(), rel=1e-10)
    assert result["ritz_min"] == pytest.approx(spectrum.min(), rel=1e-10)
    assert result["products"] == 1000 and result["breakdowns"] == []


def test_slq_result_is_json_ready_and_can_be_resmoothed():
    op = MatrixOperator(with_spectrum(known_spectrum(300)))
    result = slq_spectrum(op, steps=30, probes=3, seed=1, sigma=2e-3)
    stored = json.loads(json.dumps(result))          # no NumPy types, no NaN
    assert stored["sigma"] == 2e-3 and stored["sigma_is"] == "standard deviation"
    assert stored["window"] == WINDOW and stored["operator"] == {"dim": 300, "dtype": "float64"}
    assert len(stored["runs"]) == 3 and all(len(r["nodes"]) == len(r["weights"]) == 30 for r in stored["runs"])
    assert slq_fractions(stored["runs"], stored["sigma"]) == pytest.approx(stored["fractions"])
    # the same seed gives the same probes, hence the same numbers
    assert slq_spectrum(op, steps=30, probes=3, seed=1, sigma=2e-3)["fractions"] == result["fractions"]
    assert slq_spectrum(op, steps=30, probes=3, seed=2, sigma=2e-3)["runs"][0]["alphas"] != result["runs"][0]["alphas"]


def test_slq_reports_breakdown():
    op = MatrixOperator(with_spectrum(numpy.repeat([-1.0, 0.0, 2.0], [10, 30, 20])))
    with pytest.warns(LanczosBreakdown):
        result = slq_spectrum(op, steps=10, probes=2)
    assert result["breakdowns"] == [{"probe": 0, "steps": 3}, {"probe": 1, "steps": 3}]
    assert result["fractions"]["degenerate"] == pytest.approx(0.5, abs=0.15)


# --- smoothing ----------------------------------------------------------------------------------------

def test_density_kernel_is_a_standard_deviation_and_integrates_to_one():
    sigma = 0.1
    grid, values = density([0.3], [1.0], sigma, grid=numpy.linspace(-0.7, 1.3, 4001))
    assert numpy.trapezoid(values, grid) == pytest.approx(1.0, abs=1e-12)
    mean = numpy.trapezoid(grid * values, grid)
    std = numpy.sqrt(numpy.trapezoid((grid - mean) ** 2 * values, grid))
    assert mean == pytest.approx(0.3, abs=1e-9) and std == pytest.approx(sigma, rel=1e-3)
    gaussian = numpy.exp(-(grid - 0.3) ** 2 / (2 * sigma ** 2)) / (sigma * numpy.sqrt(2 * numpy.pi))
    numpy.testing.assert_allclose(values, gaussian, atol=1e-3 * gaussian.max())


def test_density_of_slq_result_integrates_to_one_even_on_a_coarse_grid():
    op = MatrixOperator(with_spectrum(known_spectrum(300)))
    result = slq_spectrum(op, steps=30, probes=3)
    for sigma in (None, 1e-4):          # the plotting default, and far below the grid spacing
        grid, values = density_of(result, sigma=sigma, points=501)
        assert numpy.all(values >= 0)
        assert numpy.trapezoid(values, grid) == pytest.approx(1.0, abs=1e-12)
    nodes, weights = pooled(result["runs"])
    assert weights.sum() == pytest.approx(1.0)
    assert result["density_sigma"] == pytest.approx((nodes.max() - nodes.min()) / 30)
    with pytest.raises(ValueError, match="positive"):
        density(nodes, weights, 0.0)


# --- the paper's small validation net -----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def small_net_data():
    """The 128 synthetic samples on 128 PCA inputs, loaded (and the PCA fitted) once for the module; read only."""
    return data.load("synthetic", synthetic_size=(128, 10), pca=128, dtype=numpy.float64, mirror=False, progress=False)


def small_net(device="cpu"):
    """10 x 16 plain ReLU net on 128 PCA inputs, 20 classes (4,852 parameters), 128 synthetic samples."""
    ds = small_net_data()
    model = models.MLP(inputs=128, width=16, depth=10, classes=20, skip="plain", rng=0, dtype="float64").to(device)
    return HessianOperator(model, ds.train_x, ds.train_y, batch_size=None)


@pytest.fixture(scope="module")
def net():
    """The operator and its exact spectrum (4,852 products), computed once for the module."""
    op = small_net()
    return op, exact_spectrum(op)


def test_exact_spectrum_of_the_small_net(net):
    op, exact = net
    ev = numpy.array(exact["eigenvalues"])
    assert exact["n"] == op.dim == 4852 and ev.size == 4852 and numpy.all(numpy.diff(ev) >= 0)
    assert exact["operator"] == op.info() and exact["operator"]["n_samples"] == 128
    assert exact["fractions"] == pytest.approx(fractions(discrete_cdf(ev)))
    assert exact["moments"]["2"] == pytest.approx(numpy.mean(ev ** 2))
    assert exact["top"][0] == exact["max"] == ev[-1] and exact["bottom"][0] == exact["min"] == ev[0]
    # a net at initialization: a large degenerate bulk and a real share of negative curvature
    assert 0.5 < exact["fractions"]["degenerate"] < 0.9 and exact["fractions"]["negative"] > 0.05
    summary = jsonable(spectrum_summary(ev))
    assert summary == {k: exact[k] for k in summary}


def test_slq_matches_the_exact_spectrum_of_the_small_net(net):
    """SLQ with the defaults (100 steps, 10 probes, σ = w/3) against the exact eigenvalues.

    Tolerances: degenerate and negative fractions within 0.05 absolute (measured errors about
    0.02: the Gauss nodes are about range/steps ≈ 0.01 apart near zero, wider than the window, so
    the eigenvalues just outside ±w are partly counted in), extreme Ritz values equal to the extreme
    eigenvalues to 1e-6 relative, moments within five standard errors of a 10-probe mean.
    """
    op, exact = net
    bar = []
    result = slq_spectrum(op, progress=bar.append)
    assert len(bar) == 100 * 10 and result["products"] == 1000
    for key in ("negative", "degenerate"):
        assert abs(result["fractions"][key] - exact["fractions"][key]) < 0.05, key
    assert result["ritz_max"] == pytest.approx(exact["max"], rel=1e-6)
    assert result["ritz_min"] == pytest.approx(exact["min"], rel=1e-6)
    ev = numpy.array(exact["eigenvalues"])
    for k in (1, 2, 3, 4):
        stderr = numpy.sqrt(2 * numpy.mean(ev ** (2 * k)) / ev.size / 10)
        assert abs(result["moments"][str(k)] - exact["moments"][str(k)]) < 5 * stderr, k
    assert result["operator"] == op.info() and result["sigma"] == pytest.approx(WINDOW / 3)


def test_slq_on_the_strict_device_matches_the_cpu(net):
    """The same net on the strict stand-in (refuses implicit host conversion): same probes, same numbers."""
    op, _ = net
    strict = small_net("strict")
    assert mg.get_array_module(strict.params[0].data) is not numpy
    on_strict = slq_spectrum(strict, steps=15, probes=2, seed=3)
    on_cpu = slq_spectrum(op, steps=15, probes=2, seed=3)
    for a, b in zip(on_strict["runs"], on_cpu["runs"]):
        numpy.testing.assert_allclose(a["alphas"], b["alphas"], rtol=1e-10, atol=1e-14)
        numpy.testing.assert_allclose(a["betas"], b["betas"], rtol=1e-10)


def test_exact_spectrum_refuses_large_operators():
    class Big:
        dim = 20_000

        def dense(self):
            raise AssertionError("must not build the dense matrix")
    with pytest.raises(ValueError, match="limit of 10000"):
        exact_spectrum(Big())


def test_fraction_curves_read_a_known_spectrum_at_every_window():
    from analysis.spectra.exact import spectrum_summary
    from analysis.spectra.window import WINDOWS, fraction_curves, discrete_cdf
    assert WINDOWS[0] == 1e-6 and WINDOWS[-1] == 1.0 and len(WINDOWS) == 13
    ev = numpy.array([-2.0, -1e-3, 0.0, 1e-5, 0.5])
    curves = fraction_curves(lambda w: discrete_cdf(ev), windows=(1e-6, 1e-4, 3e-3, 1.0))
    assert curves["degenerate"] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert curves["negative"] == pytest.approx([0.4, 0.4, 0.2, 0.2])
    assert spectrum_summary(ev)["curves"]["windows"] == list(WINDOWS)
