"""The hyper-residual Q as a declared reading: one Q_k per source (the default) or one Q_{k,t} per (source, target).

The default must stay what it was, bit for bit, and name the same runs; per pair must be its own net
everywhere a net goes (build, configs, run names, memory estimate, ensembles, the fidelity grid)."""
import json

import numpy
import pytest

import minigrad as mg
from analysis.figures import FIGURES
from analysis.reproduction import presets
from models import build
from models.ensemble import Stacked, ensemble
from models.memory import counts
from models.mlp import MLP
from models.objective import objective
from models.options import OptionError, configs, run_name
from models.training import train, train_ensemble
from models.training.settings import check_model
from tests.models.test_ensemble import _data, assert_same, config
from tests.models.test_options import DEFAULTS

KW = dict(inputs=6, width=8, depth=6, classes=3, skip="hyperres", hyper_matrix="ortho", rng=2, dtype=numpy.float64)


def _state_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(sa[k].dtype == sb[k].dtype and numpy.array_equal(sa[k], sb[k]) for k in sa)


def test_per_source_shares_one_q_over_targets_and_per_pair_draws_one_per_target():
    source, pair = MLP(**KW), MLP(**KW, hyper_q_draw="per-pair")
    depth, width = KW["depth"], KW["width"]
    for k in range(1, depth - 1):
        targets = range(k + 2, depth + 1)
        assert all(source.q_matrix(k, t) is source.hyper_q[k - 1].matrix for t in targets)   # one Q_k for all
        qs = [pair.q_matrix(k, t) for t in targets]
        assert all(q.dtype == numpy.float64 and q.shape == (width, width) for q in qs)
        assert all(numpy.allclose(q.T @ q, numpy.eye(width), atol=1e-12) for q in qs)           # each an 'ortho'
        assert all(not numpy.allclose(a, b) for i, a in enumerate(qs) for b in qs[i + 1:])      # differ by target
    assert [b.shape for _, b in pair.named_buffers()] == [(width, j * width) for j in range(1, depth - 1)]
    assert sum(b.size for _, b in pair.named_buffers()) == (depth - 2) * (depth - 1) // 2 * width * width
    with pytest.raises(ValueError, match="1 <= k <= target - 2"):
        pair.q_matrix(3, 4)


def test_per_pair_forward_is_the_sum_over_pairs():
    """x_{l+1} = f(W_l x_l + b) + x_l + Σ_{k<l} Q_{k,l+1} x_k, written out in NumPy from q_matrix."""
    for average in ("none", "average"):
        model = MLP(**KW, hyper_q_draw="per-pair", skip_scale=average)
        r = numpy.random.default_rng(3)
        for layer in model.hidden:
            layer.bias.data[...] = r.standard_normal(layer.bias.shape)
        x = r.standard_normal((5, KW["inputs"]))
        xs = [x]
        for l, layer in enumerate(model.hidden):
            h = numpy.maximum(xs[l] @ layer.weight.data.T + layer.bias.data, 0)
            terms = [h] + ([xs[l]] if l else []) + [xs[k] @ model.q_matrix(k, l + 1).T for k in range(1, l)]
            xs.append(sum(terms) / (len(terms) if average == "average" and l else 1))
        want = xs[-1] @ model.output.weight.data.T + model.output.bias.data
        numpy.testing.assert_allclose(model(mg.tensor(x)).numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("extra", [{}, dict(skip_scale="average", branch_init="skipinit"), dict(hyper_matrix="k2")])
def test_the_default_is_per_source_bit_for_bit(extra):
    """No option = the explicit default: the same draws, weights, buffers and outputs; and per pair draws the same
    weights (the Q come after them), so only the skips differ."""
    kw = dict(KW, **extra)
    default, explicit, pair = MLP(**kw), MLP(**kw, hyper_q_draw="per-source"), MLP(**kw, hyper_q_draw="per-pair")
    assert _state_equal(default, explicit) and default.config == explicit.config
    assert default.config["hyper_q_draw"] == "per-source" and "hyper_q_draw" not in repr(default)
    x = mg.tensor(numpy.random.default_rng(0).standard_normal((4, kw["inputs"])))
    assert numpy.array_equal(default(x).numpy(), explicit(x).numpy())
    assert all(numpy.array_equal(p.data, q.data) for p, q in zip(default.parameters(), pair.parameters()))
    assert not numpy.allclose(default(x).numpy(), pair(x).numpy())
    assert "hyper_q_draw='per-pair'" in repr(pair)


def test_build_round_trips_and_checks_the_reading():
    model = build(dict(inputs=5, width=4, depth=5, classes=2, skip="hyperres", hyper_q_draw="per-pair", seed=3))
    saved = json.loads(json.dumps(model.config))
    assert saved["hyper_q_draw"] == "per-pair" and _state_equal(build(saved), model) and build(saved).config == saved
    old = {k: v for k, v in saved.items() if k != "hyper_q_draw"}          # a config.json from before the option
    assert build(old).config["hyper_q_draw"] == "per-source"
    for kwargs, match in ((dict(hyper_q_draw="per-target"), "unknown hyper_q_draw 'per-target'"),
                          (dict(skip="residual", hyper_matrix=None, hyper_q_draw="per-pair"),
                           "hyper_q_draw applies only to skip='hyperres'")):
        with pytest.raises(ValueError, match=match):
            MLP(**dict(KW, **kwargs))
    with pytest.raises(ValueError, match="hyper_q_draw"):
        check_model({"arch": "mlp", "skip": "hyperres", "hyper_q_draw": "shared"})


def test_run_names_and_hashes_of_the_default_are_unchanged():
    """The default enters no config, so no run name and no run hash; per pair names its own runs."""
    p = dict(DEFAULTS, arch="hyperres", depth=20)
    for given in ({}, {"hyper_q_draw": "per-source"}):
        model, _ = configs(dict(p, **given))
        assert "hyper_q_draw" not in model and run_name("hyperres", 20, "cifar100", 0, model) == \
            "hyperres-d20-cifar100-s0"
    model, _ = configs(dict(p, hyper_q_draw="per-pair"))
    assert model["hyper_q_draw"] == "per-pair"
    assert run_name("hyperres", 20, "cifar100", 0, model) == "hyperres-d20-q-per-pair-cifar100-s0"
    with pytest.raises(OptionError, match="only to the hyper-residual net"):
        configs(dict(DEFAULTS, arch="residual", hyper_q_draw="per-pair"))
    grid = FIGURES["fidelity"].groups(presets.get("quick"))
    assert grid["stated / fig3 Hyperres"][0].name == "hyperres-d20-cifar100-s0-3a4206aed1"       # pinned before
    assert grid["SkipInit / fig3 Hyperres"][0].name == "hyperres-d20-skipinit-cifar100-s0-9f02c3c3a6"
    assert grid["stated / fig5 Residual"][0].name == "residual-d30-cifar100-s0-919bd6018d"
    assert grid["Q per pair / fig3 Hyperres"][0].name == "hyperres-d20-per-pair-cifar100-s0-0b8526750e"
    assert grid["Q per pair / fig3 Hyperres"][0].config.model["hyper_q_draw"] == "per-pair"
    for net in ("fig3 Plain", "fig3 Residual", "fig5 Residual", "fig5 BiasReg"):     # no hyper-residual Q: shared
        assert [s.name for s in grid[f"Q per pair / {net}"]] == [s.name for s in grid[f"stated / {net}"]]
    paper = FIGURES["fidelity"].groups(presets.get("paper"))
    assert paper["stated / fig3 Hyperres"][0].name == "hyperres-d20-cifar100-s0-07197861ea"


def test_the_memory_estimate_counts_every_pair():
    for depth in (3, 4, 7):
        for draw in ("per-source", "per-pair"):
            cfg = dict(arch="mlp", skip="hyperres", depth=depth, width=8, hyper_q_draw=draw)
            model = build(dict(cfg, inputs=5, classes=2, seed=0))
            _, buffers, _ = counts(cfg, 5, 2)
            assert buffers == sum(b.size for _, b in model.named_buffers())


def test_stacked_per_pair_members_are_their_single_nets():
    configs_ = [dict(inputs=12, width=8, depth=5, classes=5, dtype="float64", skip="hyperres", hyper_matrix="k2",
                     hyper_q_draw="per-pair", seed=s) for s in (4, 7)]
    model = ensemble(configs_)
    assert isinstance(model, Stacked)
    x, y = _data("cpu", (2, 10, 12), (2, 10))
    losses = objective(model, mg.Tensor(x), y)
    grads = mg.grad(losses.sum(), model.parameters())
    for s, cfg in enumerate(configs_):
        single = build(cfg)
        loss = objective(single, mg.Tensor(x[s]), y[s])
        assert mg.to_float(loss.data) == mg.to_float(losses.data[s])
        for g_ens, g in zip(grads, mg.grad(loss, single.parameters())):
            assert numpy.array_equal(g_ens.data[s].reshape(g.shape), g.data)
        assert _state_equal(model.member(s), single)
        assert numpy.array_equal(model.member(s).q_matrix(2, 5), single.q_matrix(2, 5))


def test_a_per_pair_ensemble_trains_exactly_its_single_runs(tmp_path):
    net = {"arch": "mlp", "skip": "hyperres", "depth": 4, "width": 16, "hyper_q_draw": "per-pair"}
    seeds = (0, 5)
    outcomes = train_ensemble([config(net, s) for s in seeds], [tmp_path / f"e{s}" for s in seeds])
    assert [o["status"] for o in outcomes] == ["finished"] * 2
    for s in seeds:
        train(config(net, s), str(tmp_path / f"s{s}"))
        assert_same(tmp_path / f"e{s}", tmp_path / f"s{s}", rtol=1e-10)


def test_the_exact_hvp_of_a_per_pair_net_matches_finite_differences_of_its_gradient():
    """The concatenated sources carry forward-mode tangents (the Hessians of the fidelity grid's runs)."""
    model = MLP(**dict(KW, hyper_q_draw="per-pair"))
    x, y = _data("cpu", (7, KW["inputs"]), (7,))
    y = y % KW["classes"]
    params = model.parameters()
    v = [numpy.random.default_rng(5).standard_normal(p.shape) for p in params]
    hv = mg.hvp(lambda: objective(model, mg.Tensor(x), y), params, v)

    def gradient():
        return [g.data.copy() for g in mg.grad(objective(model, mg.Tensor(x), y), params)]
    eps = 1e-6
    for p, d in zip(params, v):
        p.data += eps * d
    plus = gradient()
    for p, d in zip(params, v):
        p.data -= 2 * eps * d
    minus = gradient()
    for p, d in zip(params, v):
        p.data += eps * d
    for h, a, b in zip(hv, plus, minus):
        numpy.testing.assert_allclose(h.data, (a - b) / (2 * eps), rtol=1e-5, atol=1e-7)
