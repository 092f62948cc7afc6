"""Singularity meters (analysis/meters.py) on constructed networks whose answers are known by hand."""
import json
import math
import os

import numpy
import pytest

import minigrad as mg
from analysis import meters
from analysis.measurement_plan import meters_measurement
from models.files import read_jsonl
from models import MLP, ConvNet
from models.training import TrainConfig, train


def mlp(**kw):
    args = dict(inputs=6, width=4, depth=2, classes=3, skip="plain", rng=0, dtype=numpy.float64)
    args.update(kw)
    return MLP(**args)


def set_layer(model, l, weight=None, bias=None):
    if weight is not None:
        model.hidden[l].weight.data[...] = numpy.asarray(weight, dtype=numpy.float64)
    if bias is not None:
        model.hidden[l].bias.data[...] = bias


def pearson_mean(w):
    """Reference overlap of rows with variance: numpy.corrcoef, off the diagonal."""
    c = numpy.corrcoef(numpy.asarray(w, dtype=numpy.float64))
    n = len(c)
    return (c.sum() - numpy.trace(c)) / (n * (n - 1))


# --- elimination and overlap ------------------------------------------------------------

def test_norms_and_overlap_of_constructed_rows():
    model = mlp()
    r0, r3 = [1.0, -1.0, 2.0, -2.0], [1.0, 1.0, -1.0, -1.0]        # zero mean, orthogonal: Pearson 0
    set_layer(model, 1, [r0, r0, [0.0] * 4, r3])                  # a duplicated pair and an eliminated unit
    elim, over = meters.elimination(model), meters.overlap(model)
    assert elim["layers"][1] == pytest.approx((2 * math.sqrt(10) + 2) / 4)
    # pairs: (0,1) = 1, the other five 0 (orthogonal, or a zero row)
    assert over["layers"][1] == pytest.approx(1 / 6)
    w0 = model.hidden[0].weight.data
    assert elim["layers"][0] == pytest.approx(numpy.linalg.norm(w0, axis=1).mean())
    assert over["layers"][0] == pytest.approx(pearson_mean(w0))
    # default: hidden-to-hidden layers only; both averages reported
    assert elim["mean"] == elim["mean_hidden"] == elim["layers"][1]
    assert elim["mean_all"] == pytest.approx(numpy.mean(elim["layers"]))
    assert meters.elimination(model, include_first=True)["mean"] == elim["mean_all"]


def test_overlap_extremes_and_a_random_layer_against_numpy():
    model = mlp(width=5, depth=3)
    a = numpy.array([0.3, -1.0, 2.0, 0.5, 4.0])
    set_layer(model, 1, [a, a, a, a, a])                          # all identical: every pair 1
    set_layer(model, 2, [a, -a, 2 * a, -3 * a, a + 7])            # scale, sign, shift: Pearson ±1
    over = meters.overlap(model)
    assert over["layers"][1] == pytest.approx(1.0)
    signs = numpy.array([1, -1, 1, -1, 1])
    assert over["layers"][2] == pytest.approx((signs.sum() ** 2 - 5) / 20)
    w = numpy.random.default_rng(5).standard_normal((5, 5)) + 3.0  # nonzero row means: not a cosine
    set_layer(model, 2, w)
    assert meters.overlap(model)["layers"][2] == pytest.approx(pearson_mean(w), abs=1e-12)


# --- zero responses and linear dependence -----------------------------------------------

def orthonormal_inputs(n, k, seed=0):
    """n samples of k centred, uncorrelated inputs of unit variance (exactly, up to rounding)."""
    q, _ = numpy.linalg.qr(numpy.random.default_rng(seed).standard_normal((n, k)))
    q = q - q.mean(axis=0)
    q, _ = numpy.linalg.qr(q)
    return q * math.sqrt(n)


def test_zero_responses_of_silent_and_always_on_layers():
    model = mlp(inputs=8, width=8, depth=2)
    x = numpy.random.default_rng(1).standard_normal((200, 8))
    set_layer(model, 0, bias=-100.0)                              # layer 1 never fires
    set_layer(model, 1, bias=100.0)                               # layer 2 always fires
    z = meters.zero_responses(model, x)
    assert z["layers"] == [1.0, 0.0] and z["mean"] == 0.5
    dead = meters.linear_dependence(model, x)["out"]
    assert (dead["erank"]["layers"][0], dead["pr"]["layers"][0], dead["top3"]["layers"][0]) == (0.0, 0.0, 1.0)
    # layer 2 reads a silent layer: its responses are the constant relu(b) = 100, dead too, and never NaN
    assert dead["erank"]["layers"][1] == 0.0 and all(math.isfinite(v) for s in dead.values() for v in s["layers"])


def test_silent_units_are_those_that_never_respond(device):
    """A unit is silent when it is 0 on every example: half the (unit, example) pairs can be 0 with no unit silent."""
    model = mlp(inputs=1, width=4, depth=1)
    set_layer(model, 0, [[1.0], [-1.0], [0.0], [0.0]], bias=[0.0, 0.0, -1.0, 1.0])   # x, -x, never, always
    x = numpy.linspace(-1.0, 1.0, 9)[:, None]
    x = x[x[:, 0] != 0]                                                    # no example at 0: each sign fires half
    model.to(device)
    assert meters.silent_units(model, x, batch_size=3)["layers"] == [0.25]              # only the third unit
    assert meters.zero_responses(model, x)["layers"] == [pytest.approx(0.5)]
    conv = ConvNet(blocks=1, widths=(4, 8), classes=3, skip="plain", rng=0, dtype=numpy.float64).to(device)
    images = numpy.random.default_rng(0).standard_normal((6, 3, 8, 8))
    record = []
    conv(mg.tensor(images, device=device), record=record)
    expected = [float((mg.to_host(r["relu"].data) == 0).all(axis=(0, 2, 3)).mean()) for r in record]
    assert meters.silent_units(conv, images)["layers"] == pytest.approx(expected)


def test_copies_of_two_units_have_rank_two_and_independent_units_full_rank():
    model = mlp(inputs=2, width=8, depth=1)
    set_layer(model, 0, [[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4, bias=10.0)   # copies, always in the linear range
    x = orthonormal_inputs(500, 2)
    dep = meters.linear_dependence(model, x)
    for source in ("out", "relu"):
        assert dep[source]["erank"]["layers"][0] == pytest.approx(2.0, abs=0.1)
        assert dep[source]["pr"]["layers"][0] <= 2.0 + 1e-9
        assert dep[source]["top3"]["layers"][0] == pytest.approx(1.0)
    model = mlp(inputs=8, width=8, depth=1)
    set_layer(model, 0, numpy.eye(8), bias=10.0)
    x = numpy.random.default_rng(2).standard_normal((1000, 8))
    dep = meters.linear_dependence(model, x)["out"]
    assert dep["erank"]["layers"][0] > 7.8 and dep["pr"]["layers"][0] > 7.5
    assert 3 / 8 <= dep["top3"]["layers"][0] < 0.45          # 3/8 plus sampling spread (Marchenko-Pastur)


def test_spectrum_statistics_by_hand():
    s = meters.spectrum_stats([3.0, 2.0, 0.0, -1e-17])
    p = numpy.array([0.6, 0.4])
    assert s["erank"] == pytest.approx(math.exp(-(p * numpy.log(p)).sum()))
    assert s["pr"] == pytest.approx(25 / 13) and s["top3"] == 1.0
    assert meters.spectrum_stats([1.0, 1.0, 1.0, 1.0], top=2) == {"erank": pytest.approx(4), "pr": 4.0, "top2": 0.5}
    assert meters.spectrum_stats([0.0, 0.0]) == {"erank": 0.0, "pr": 0.0, "top3": 1.0}
    copies = numpy.repeat(orthonormal_inputs(300, 2), [3, 2], axis=1)   # 3 copies of a, 2 of b: λ = 3, 2
    covariance = numpy.cov(copies, rowvar=False, bias=True)
    assert meters.spectrum_stats(numpy.linalg.eigvalsh(covariance))["pr"] == pytest.approx(25 / 13)


# --- gradient norms ----------------------------------------------------------------------

def softmax(z):
    e = numpy.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("skip", ["plain", "residual"])
def test_gradient_norms_match_the_closed_form(skip):
    model = mlp(inputs=5, width=6, depth=2, classes=3, skip=skip, rng=3)
    r = numpy.random.default_rng(4)
    for layer in model.hidden + [model.output]:
        layer.bias.data[...] = 0.3 * r.standard_normal(layer.bias.shape)
    x, y = r.standard_normal((40, 5)), r.integers(0, 3, 40)
    (w0, b0), (w1, b1) = [(l.weight.data, l.bias.data) for l in model.hidden]
    wo, bo = model.output.weight.data, model.output.bias.data
    x1 = numpy.maximum(x @ w0.T + b0, 0)
    z2 = x1 @ w1.T + b1
    x2 = numpy.maximum(z2, 0) + (x1 if skip == "residual" else 0)
    d2 = (softmax(x2 @ wo.T + bo) - numpy.eye(3)[y]) @ wo          # ∂ℓ_n/∂x_2, one row per example
    d1 = (d2 * (z2 > 0)) @ w1 + (d2 if skip == "residual" else 0)
    expected = [numpy.linalg.norm(d, axis=1).mean() for d in (d1, d2)]
    for batch_size in (None, 7):
        got = meters.gradient_norms(model, x, y, batch_size=batch_size)
        assert got["layers"] == pytest.approx(expected, rel=1e-10)
        assert got["mean"] == pytest.approx(numpy.mean(expected), rel=1e-10)


def test_gradient_norm_against_finite_differences_along_the_activity():
    """Perturb x_2 of one example through the output layer: the loss change is the gradient's projection."""
    model = mlp(inputs=5, width=6, depth=2, classes=3, skip="residual", rng=7)
    r = numpy.random.default_rng(8)
    x, y = r.standard_normal((1, 5)), numpy.array([2])
    norm = meters.gradient_norms(model, x, y)["layers"][1]
    record = []
    model(mg.tensor(x), record=record)
    x2 = record[1]["out"].data

    def loss(a):
        return float(mg.functional.cross_entropy(model.output(mg.tensor(a)), y).item())
    g = numpy.array([(loss(x2 + 1e-6 * e) - loss(x2 - 1e-6 * e)) / 2e-6 for e in numpy.eye(6)])
    assert norm == pytest.approx(numpy.linalg.norm(g), rel=1e-6)


# --- one pass, devices, conv nets, modes --------------------------------------------------

def test_all_meters_is_json_ready_and_batch_size_free():
    model = mlp(inputs=10, width=8, depth=4, skip="hyperres", rng=1)
    r = numpy.random.default_rng(0)
    x, y = r.standard_normal((90, 10)), r.integers(0, 3, 90)
    whole = meters.all_meters(model, x, y, batch_size=None)
    assert list(whole) == [*meters.METERS, "n_samples"] and whole["n_samples"] == 90
    json.dumps(whole, allow_nan=False)
    split = meters.all_meters(model, x, y, batch_size=13)
    flat_a, flat_b = meters.flatten(whole), meters.flatten(split)
    assert flat_a.keys() == flat_b.keys()
    assert all(flat_b[k] == pytest.approx(v, rel=1e-9, abs=1e-12) for k, v in flat_a.items())
    # the single-purpose functions agree with the one-pass result
    assert meters.gradient_norms(model, x, y) == whole["gradient_norms"]
    assert meters.zero_responses(model, x) == whole["zero_responses"]


def test_meters_on_every_device_match_the_cpu(device):
    """The strict device refuses every implicit host conversion: passing there proves there is none."""
    r = numpy.random.default_rng(3)
    nets = [(mlp(inputs=10, width=8, depth=4, skip="residual", skip_matrix="ortho", bn_layer=2, rng=2, dtype=numpy.float32),
             r.standard_normal((60, 10)).astype(numpy.float32)),
            (ConvNet(blocks=1, widths=(4, 8), classes=3, skip="residual", rng=2),
             r.standard_normal((20, 3, 8, 8)).astype(numpy.float32))]
    for model, x in nets:
        y = r.integers(0, 3, len(x))
        expected = meters.flatten(meters.all_meters(model, x, y, batch_size=25))
        got = meters.flatten(meters.all_meters(model.to(device), x, y, batch_size=25))
        assert got.keys() == expected.keys()
        assert all(got[k] == pytest.approx(v, rel=1e-4, abs=1e-6) for k, v in expected.items())


def test_conv_units_are_channels_with_flattened_kernels():
    model = ConvNet(blocks=1, widths=(4, 8), classes=3, skip="plain", rng=0, dtype=numpy.float64)
    kernels = [c.weight.data.reshape(c.weight.shape[0], -1) for c in model.convs]
    elim, over = meters.elimination(model), meters.overlap(model)
    assert elim["layers"] == pytest.approx([numpy.linalg.norm(k, axis=1).mean() for k in kernels])
    assert over["layers"] == pytest.approx([pearson_mean(k) for k in kernels])
    x = numpy.random.default_rng(0).standard_normal((6, 3, 8, 8))
    record = []
    model(mg.tensor(x), record=record)
    assert meters.zero_responses(model, x)["layers"] == pytest.approx([(r["relu"].data == 0).mean() for r in record])
    assert [r["out"].shape[1] for r in record] == [4, 4, 8]
    units = record[2]["out"].data.transpose(0, 2, 3, 1).reshape(-1, 8)         # samples = (example, position)
    lam = numpy.linalg.eigvalsh(numpy.cov(units.T, bias=True))
    assert meters.linear_dependence(model, x)["out"]["pr"]["layers"][2] == pytest.approx(lam.sum() ** 2 / (lam ** 2).sum())


def test_eval_mode_is_used_and_restored_and_nothing_is_trained():
    model = mlp(inputs=10, width=8, depth=3, bn_layer=2, rng=1)
    before = model.state_dict()
    r = numpy.random.default_rng(0)
    meters.all_meters(model, r.standard_normal((50, 10)), r.integers(0, 3, 50))
    assert model.training and all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(numpy.array_equal(before[k], after[k]) for k in before)      # running statistics untouched
    model.eval()
    meters.zero_responses(model, r.standard_normal((5, 10)))
    assert not model.training


def test_misuse_is_one_clear_sentence():
    with pytest.raises(ValueError, match="unknown meter 'degeneracy'"):
        meters_measurement(names=("overlap", "degeneracy"))
    with pytest.raises(TypeError, match="need an MLP"):
        meters.elimination(object())
    with pytest.raises(ValueError, match="one label per example"):
        meters.gradient_norms(mlp(), numpy.zeros((4, 6)), numpy.zeros(3, dtype=numpy.int64))


# --- the training hook ---------------------------------------------------------------------

def test_measurement_lands_in_metrics_jsonl(tmp_path):
    config = TrainConfig(model={"arch": "mlp", "skip": "residual", "depth": 3, "width": 16},
                         data={"name": "synthetic", "synthetic_size": [300, 100], "synthetic_classes": 5},
                         epochs=2, batch_size=100, lr=1e-3, seed=0)
    hooks = [meters_measurement(n_samples=200, epochs={0, 2}),
             meters_measurement(names=("overlap", "gradient_norms"), n_samples=100, name="lean", per_layer=False)]
    train(config, str(tmp_path), measurements=hooks)
    rows = read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
    for key in ("meters/elimination/mean", "meters/elimination/mean_all", "meters/overlap/layer03",
                "meters/zero/mean", "meters/erank_out/layer01", "meters/pr_relu/mean", "meters/top3_out/mean",
                "meters/grad/layer02"):
        assert key in rows[0] and key in rows[2] and key not in rows[1]
    assert sorted(k for k in rows[1] if k.startswith("lean/")) == ["lean/grad/mean", "lean/overlap/mean",
                                                                    "lean/overlap/mean_all"]
    assert all(isinstance(v, float) and math.isfinite(v) for k, v in rows[0].items() if k.startswith("meters/"))
