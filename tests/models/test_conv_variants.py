"""The paper's Fig 5 variants on conv nets (models/conv.py): malicious init (W − S, the conv analogue of the
MLP's Glorot − I) and BiasReg / BiasL2Reg on every conv bias, with their penalty's exact Hessian."""
import json
import re

import numpy
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.nn import init
from models import BIAS_TARGETS, DEFAULT_BIAS_LAMBDA, ConvNet, build, count_parameters, model_keys, objective

SMALL = dict(blocks=1, widths=(4, 8), classes=3)          # stem 3->4, block 4->4 (s1), block 4->8 (s2)


def same_state(a, b):
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(numpy.array_equal(a[k], b[k]) for k in a)


def flat(tensors):
    return numpy.concatenate([mg.to_host(t.data if isinstance(t, mg.Tensor) else t).ravel() for t in tensors])


def _one_sentence(message):
    return message.endswith(".") and "\n" not in message and not re.search(r"[.;]\s+[A-Z]", message)


# --- defaults and draw order -------------------------------------------------------------------------

def test_defaults_are_unchanged_and_targets_are_drawn_last():
    plain = ConvNet(rng=3, **SMALL)
    explicit = ConvNet(rng=3, init="glorot_normal", bias_reg=None, bias_lambda=None, batch_norm=False,
                       in_channels=3, **SMALL)
    assert same_state(plain, explicit) and [n for n, _ in plain.named_buffers()] == []
    assert plain.penalty() is None and plain.config["bias_reg"] is None and plain.config["bias_lambda"] is None
    # bit-identical to the documented draws: Glorot normal conv kernels in layer order, then the head
    rng = numpy.random.default_rng(3)
    shapes = [(4, 3, 3, 3), (4, 4, 3, 3), (8, 4, 3, 3)]
    expected = [init.glorot_normal(rng, s) for s in shapes] + [init.glorot_normal(rng, (3, 8))]
    state = plain.state_dict()
    got = [state[f"convs.{i}.weight"] for i in range(3)] + [state["head.weight"]]
    assert all(numpy.array_equal(a, b) for a, b in zip(got, expected))
    # BiasReg draws its targets after everything else: same weights, and the next draws of the generator
    reg = ConvNet(rng=3, bias_reg=(0.5, 2.0), **SMALL)
    assert count_parameters(reg) == count_parameters(plain)
    reg_state = reg.state_dict()
    assert all(numpy.array_equal(reg_state[k], state[k]) for k in state)
    assert list(reg_state) == list(state) + ["bias_targets"]
    numpy.testing.assert_array_equal(reg.bias_targets,
                                     (0.5 + 2.0 * rng.standard_normal(4 + 4 + 8)).astype(numpy.float32))
    # malicious init draws nothing extra: the head and stem are the Glorot net's
    res = ConvNet(rng=3, skip="residual", **SMALL)
    mal = ConvNet(rng=3, skip="residual", init="malicious", **SMALL)
    numpy.testing.assert_array_equal(mal.state_dict()["convs.0.weight"], state["convs.0.weight"])
    numpy.testing.assert_array_equal(mal.state_dict()["head.weight"], res.state_dict()["head.weight"])


# --- malicious init ------------------------------------------------------------------------------------

@pytest.mark.parametrize("blocks, widths", [(1, (4, 8)), (2, (3, 3, 6))])
def test_malicious_pre_activation_is_glorot_minus_the_skip(blocks, widths):
    kw = dict(blocks=blocks, widths=widths, classes=3, skip="residual", rng=7, dtype=numpy.float64)
    good, bad = ConvNet(**kw), ConvNet(init="malicious", **kw)
    assert bad.config["init"] == "malicious"
    r = numpy.random.default_rng(0)
    for g, b in zip(good.convs, bad.convs):                 # the same random biases: the difference ignores them
        g.bias.data[...] = b.bias.data[...] = r.standard_normal(g.bias.shape)
    x = mg.tensor(0.1 * r.standard_normal((2, 3, 7, 7)))   # odd size: the stride-2 blocks keep 4 of 7 pixels
    rec_good, rec_bad = [], []
    good(x, record=rec_good)
    bad(x, record=rec_bad)
    numpy.testing.assert_array_equal(rec_bad[0]["pre"].numpy(), rec_good[0]["pre"].numpy())   # stem untouched
    strides = [st for _, _, st in good._shapes]
    assert 2 in strides and any(cin != cout for cin, cout, _ in good._shapes[1:])
    for l in range(1, len(good.convs)):
        cin, cout, stride = good._shapes[l]
        x_l = rec_good[l - 1]["out"]                        # the same layer input for both nets
        diff = good.convs[l](x_l).numpy() - bad.convs[l](x_l).numpy()
        numpy.testing.assert_allclose(diff, ConvNet.shortcut(x_l, cin, cout, stride).numpy(), rtol=0, atol=1e-12)
        # and the malicious net's own forward records exactly its conv of its own input
        numpy.testing.assert_allclose(rec_bad[l]["pre"].numpy(), bad.convs[l](rec_bad[l - 1]["out"]).numpy(),
                                      rtol=0, atol=1e-14)
        # only the centre taps W[c, c, 1, 1], c < cin, moved, each by exactly -1
        delta = good.convs[l].weight.numpy() - bad.convs[l].weight.numpy()
        expected = numpy.zeros_like(delta)
        expected[numpy.arange(cin), numpy.arange(cin), 1, 1] = 1
        numpy.testing.assert_allclose(delta, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(init="malicious"), "malicious init subtracts the skip's map to cancel it, so it needs skip='residual'; "
                             "got skip='plain'."),
    (dict(init="he"), "unknown init 'he' for a conv net; choose one of: glorot_normal, he_normal, malicious."),
    (dict(bias_reg="cifar1000"), "bias_reg must be None, a name in cifar10, cifar100, l2"),
    (dict(bias_lambda=0.1), "bias_lambda needs a bias_reg"),
    (dict(bias_reg="l2", bias_lambda=-1.0), "bias_lambda must be a finite number >= 0"),
])
def test_bad_conv_variant_arguments_raise_one_clear_sentence(kwargs, match):
    with pytest.raises(ValueError) as info:
        ConvNet(rng=0, **SMALL, **kwargs)
    assert match in str(info.value) and _one_sentence(str(info.value)), str(info.value)
    with pytest.raises(ValueError) as again:                # build reports the same
        build(dict(arch="conv", seed=0, **SMALL, **kwargs))
    assert str(again.value) == str(info.value)


# --- BiasReg -------------------------------------------------------------------------------------------

def test_bias_targets_one_per_conv_channel():
    for name, (mu, sigma) in BIAS_TARGETS.items():
        model = ConvNet(blocks=2, widths=(64, 128, 256), bias_reg=name, rng=0, dtype=numpy.float64)
        t = model.bias_targets
        assert t.shape == (sum(conv.bias.shape[0] for conv in model.convs),) == (64 * 3 + 128 * 2 + 256 * 2,)
        assert model.bias_lambda == DEFAULT_BIAS_LAMBDA and t.dtype == numpy.float64
        assert abs(t.mean() - mu) <= 4 * sigma / numpy.sqrt(t.size) + 1e-12
        assert abs(t.std() - sigma) <= 0.1 * sigma + 1e-12
        assert model.config["bias_reg"] == [mu, sigma] and model.config["bias_lambda"] == DEFAULT_BIAS_LAMBDA
    l2 = ConvNet(bias_reg="l2", rng=0, **SMALL)
    assert numpy.all(l2.bias_targets == 0) and l2.penalty().item() == 0.0       # BiasL2Reg: targets 0
    assert "bias_reg=[0.0, 0.0]" in repr(l2)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_penalty_value_and_objective(batch_norm):
    lam = 0.3
    model = ConvNet(bias_reg="cifar10", bias_lambda=lam, batch_norm=batch_norm, rng=0, dtype=numpy.float64, **SMALL)
    r = numpy.random.default_rng(1)
    for conv in model.convs:
        conv.bias.data[...] = r.standard_normal(conv.bias.shape)
    b = numpy.concatenate([conv.bias.numpy() for conv in model.convs])
    expected = lam * ((b - model.bias_targets) ** 2).sum()
    assert model.penalty().item() == pytest.approx(expected, rel=1e-12)
    x, y = mg.tensor(r.standard_normal((4, 3, 6, 6))), r.integers(0, 3, 4)
    model.eval()
    ce = F.cross_entropy(model(x), y).item()
    assert objective(model, x, y).item() == pytest.approx(ce + expected, rel=1e-12)
    assert objective(model, x, y, penalty=False).item() == pytest.approx(ce, rel=1e-12)


@pytest.mark.parametrize("method", mg.hvp_methods)
def test_penalty_hessian_is_two_lambda_on_conv_biases(method, device):
    lam = 0.37
    model = ConvNet(skip="residual", bias_reg="cifar100", bias_lambda=lam, rng=0, dtype=numpy.float64,
                    **SMALL).to(device)
    params = model.parameters()
    names = [n for n, _ in model.named_parameters()]
    r = numpy.random.default_rng(3)
    v = [r.standard_normal(p.shape) for p in params]
    on_device = [mg.to_device(a, device) for a in v]
    hv = mg.hvp(model.penalty, params, on_device, method)
    for name, h, a in zip(names, hv, v):
        expected = 2 * lam * a if name.startswith("convs.") and name.endswith(".bias") else 0 * a
        numpy.testing.assert_allclose(mg.to_host(h.data), expected, rtol=1e-13, atol=1e-15)
    x = mg.tensor(r.standard_normal((3, 3, 6, 6)), device=device)
    y = mg.to_device(r.integers(0, 3, 3), device)
    full = flat(mg.hvp(lambda: objective(model, x, y), params, on_device, method))
    ce = flat(mg.hvp(lambda: objective(model, x, y, penalty=False), params, on_device, method))
    numpy.testing.assert_allclose(full - ce, flat(hv), atol=1e-12)
    bias = numpy.concatenate([numpy.full(p.size, n.startswith("convs.") and n.endswith(".bias"))
                              for n, p in zip(names, params)])
    numpy.testing.assert_allclose((full - ce)[bias], 2 * lam * flat(v)[bias], rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose((full - ce)[~bias], 0, atol=1e-12)


# --- configs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [
    dict(arch="conv", blocks=1, widths=[2, 4], classes=3, skip="residual", init="malicious", seed=1),
    dict(arch="conv", blocks=1, widths=[2, 4], classes=3, bias_reg="cifar10", seed=2),
    dict(arch="conv", blocks=1, widths=[2, 4], classes=3, bias_reg=[0.2, 0.1], bias_lambda=0.01, batch_norm=True,
         seed=3, dtype="float64"),
    dict(arch="conv", blocks=1, widths=[2, 4], classes=3, skip="residual", init="malicious", bias_reg="l2", seed=4),
])
def test_build_round_trips_through_json(config):
    model = build(config)
    saved = json.loads(json.dumps(model.config))
    assert set(saved) == set(model_keys("conv")) >= {"bias_reg", "bias_lambda"}
    again = build(saved)
    assert again.config == saved and same_state(model, again)
    if "bias_reg" in config:
        assert [n for n, _ in again.named_buffers()][0] == "bias_targets"
    assert all(v == saved[k] or (k == "bias_reg" and saved[k] == list(BIAS_TARGETS[v])) for k, v in config.items())
