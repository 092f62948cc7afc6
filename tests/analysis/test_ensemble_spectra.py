"""The spectra of an ensemble's members, measured all at once, are each single net's."""
import numpy
import pytest

import minigrad as mg
from analysis.measurement_plan import measurements
from analysis.spectra import HessianOperator, exact_spectrum, moment_spectrum
from analysis.spectra.moments import estimate_moments
from models import build
from models.ensemble import ensemble
from models.training import TrainConfig, train, train_ensemble
from models.files import read_jsonl

SMALL = dict(inputs=6, width=4, depth=3, classes=4, dtype="float64")


def _setup(device, skip="residual", **extra):
    configs = [dict(SMALL, skip=skip, seed=s, **extra) for s in (2, 3, 5)]
    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)), rng.integers(0, 4, 40)
    model = ensemble(configs, device)
    operator = HessianOperator(model, x, y, batch_size=16)
    singles = [HessianOperator(build(c).to(device), x, y, batch_size=16) for c in configs]
    return operator, singles


def test_one_product_multiplies_every_member_by_its_own_hessian(device):
    operator, singles = _setup(device, bias_reg="cifar10")
    assert operator.rows == (3,) and operator.dim == singles[0].dim
    v = numpy.random.default_rng(1).standard_normal((3, operator.dim))
    products = mg.to_host(operator.matvec(v))
    for s, single in enumerate(singles):
        numpy.testing.assert_allclose(products[s], mg.to_host(single.matvec(v[s])), rtol=1e-10, atol=1e-13)


def test_moments_and_exact_spectra_of_members(device):
    operator, singles = _setup(device, skip="hyperres")
    estimates = estimate_moments(operator, probes=3, seed=7)
    spectra = moment_spectrum(operator, probes=3, seed=7)
    exact = exact_spectrum(operator, keep_eigenvalues=True)
    assert len(estimates) == len(spectra) == len(exact) == 3
    for s, single in enumerate(singles):
        alone = estimate_moments(single, probes=3, seed=7)
        numpy.testing.assert_allclose(estimates[s].probe_moments, alone.probe_moments, rtol=1e-10)
        assert spectra[s].fit.params == moment_spectrum(single, probes=3, seed=7).fit.params
        numpy.testing.assert_allclose(exact[s]["eigenvalues"], exact_spectrum(single)["eigenvalues"],
                                      rtol=1e-10, atol=1e-12)


def test_lanczos_rows_are_each_members_own_recurrence(device):
    from analysis.spectra.lanczos import lanczos
    from analysis.spectra.slq import slq_spectrum
    operator, singles = _setup(device, bias_reg="l2")
    start = numpy.random.default_rng(4).standard_normal((3, operator.dim))
    rows = lanczos(operator.matvec, operator.dim, mg.to_device(start, device), 12)
    slq = slq_spectrum(operator, steps=12, probes=2, seed=3)
    for s, single in enumerate(singles):
        alphas, betas = lanczos(single.matvec, single.dim, mg.to_device(start[s], device), 12)
        numpy.testing.assert_allclose(rows[s][0], alphas, rtol=1e-10, atol=1e-13)
        numpy.testing.assert_allclose(rows[s][1], betas, rtol=1e-10, atol=1e-13)
        assert slq[s]["fractions"] == pytest.approx(slq_spectrum(single, steps=12, probes=2, seed=3)["fractions"],
                                                    rel=1e-9, abs=1e-12)


def test_a_row_that_breaks_down_stops_alone():
    """A member whose Krylov space closes early stops there; the others run on (each as it would alone)."""
    from analysis.spectra.lanczos import LanczosBreakdown, lanczos
    matrices = numpy.stack([numpy.diag([1.0, 2.0, 3.0, 4.0, 5.0]), numpy.diag([1.0, 1.0, 2.0, 2.0, 3.0])])
    start = numpy.ones((2, 5))
    with pytest.warns(LanczosBreakdown, match="row 1"):
        rows = lanczos(lambda v: numpy.einsum("sij,sj->si", matrices, v), 5, start, 5)
    assert len(rows[0][0]) == 5 and len(rows[1][0]) == 3
    numpy.testing.assert_allclose(numpy.sort(numpy.linalg.eigvalsh(numpy.diag(rows[1][0]) + numpy.diag(rows[1][1], 1)
                                                                   + numpy.diag(rows[1][1], -1))), [1, 2, 3])


def test_a_looped_ensemble_is_measured_member_by_member():
    from models.ensemble import Looped
    looped = Looped([build(dict(SMALL, seed=s)) for s in range(2)])
    with pytest.raises(ValueError, match="one by one"):
        HessianOperator(looped, numpy.zeros((4, 6)), numpy.zeros(4, int))


def test_measured_ensemble_rows_equal_single_runs(tmp_path):
    """Training with the Hessian plan (moments, exact, SLQ) and the meters: every member's rows are its single run's."""
    plan = {"hessian": {"methods": ["moments", "exact", "slq"], "epochs": [0, 2], "samples": 50, "probes": 2,
                        "steps": 8},
            "meters": {"samples": 40}}
    data = {"name": "synthetic", "synthetic_size": [200, 50], "synthetic_classes": 4, "pca": 8}
    configs = [TrainConfig(model={"arch": "mlp", "skip": "residual", "depth": 3, "width": 6}, data=data, epochs=2,
                           batch_size=50, lr=1e-3, seed=s, dtype="float64") for s in (0, 1)]
    train_ensemble(configs, [tmp_path / f"e{c.seed}" for c in configs], measurements=measurements(plan))
    for c in configs:
        train(c, str(tmp_path / f"s{c.seed}"), measurements=measurements(plan))
        ours, theirs = (read_jsonl(str(tmp_path / f"{k}{c.seed}" / "metrics.jsonl")) for k in "es")
        for row, other in zip(ours, theirs):
            assert row.keys() == other.keys() and "hessian/exact_degenerate" in ours[0]
            for k in row:
                if k != "seconds":
                    numpy.testing.assert_allclose(row[k], other[k], rtol=1e-9, atol=1e-12, err_msg=k)
