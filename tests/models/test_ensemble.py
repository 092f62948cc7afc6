"""Seed ensembles: every member is exactly its single net, in the model, in training, on resume and in divergence."""
import json
import os
import time

import numpy
import pytest

import minigrad as mg
from models import build
from models.ensemble import Looped, Stacked, ensemble
from models.objective import objective
from models.training import Diverged, EpochHook, Progress, TrainConfig, train, train_ensemble
from models.training.checkpoint import load_checkpoint
from models.files import read_jsonl
from tests.models.test_training import StopAt

SMALL = dict(inputs=12, width=8, depth=4, classes=5, dtype="float64")
VARIANTS = {
    "plain": dict(skip="plain"),
    "residual": dict(skip="residual"),
    "hyperres": dict(skip="hyperres", hyper_matrix="k2"),
    "biasreg-bn": dict(skip="plain", bias_reg="cifar100", bn_layer=2),
    "biasl2": dict(skip="plain", bias_reg="l2"),
    "malicious": dict(skip="residual", init="malicious"),
    "ortho-per-skip": dict(skip="residual", skip_matrix="ortho", skip_shared=False),
    "beta": dict(skip="residual", skip_matrix="beta0.5"),
    "k-orthonormal": dict(skip="residual", skip_matrix="k2"),
    "fidelity": dict(skip="hyperres", hyper_matrix="k2", skip_scale="average", branch_init="skipinit"),
    "branch-small": dict(skip="residual", skip_scale="branch", branch_init="small"),
}
CONV = dict(arch="conv", blocks=1, widths=[4, 8], classes=5, in_channels=3, skip="residual", batch_norm=True,
            dtype="float64")


def _data(device, shape, labels, seed=0):
    rng = numpy.random.default_rng(seed)
    x = mg.to_device(rng.standard_normal(shape), device)
    y = mg.to_device(rng.integers(0, 5, labels), device)
    return x, y


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_stacked_members_are_their_single_nets(variant, device):
    """Loss, gradient and weights of member s equal seed s's single net, bit for bit, on its own minibatch."""
    configs = [dict(SMALL, **VARIANTS[variant], seed=s) for s in (4, 7, 9)]
    model = ensemble(configs, device)
    assert isinstance(model, Stacked) and model.size == 3
    x, y = _data(device, (3, 10, 12), (3, 10))
    losses = objective(model, mg.Tensor(x), y)
    grads = mg.grad(losses.sum(), model.parameters())
    for s, config in enumerate(configs):
        single = build(config).to(device)
        loss = objective(single, mg.Tensor(x[s]), y[s])
        assert mg.to_float(loss.data) == mg.to_float(losses.data[s])
        for g_ens, g, p in zip(grads, mg.grad(loss, single.parameters()), single.parameters()):
            assert numpy.array_equal(mg.to_host(g_ens.data[s]).reshape(g.shape), mg.to_host(g.data))
        member = model.member(s).state_dict()
        assert list(member) == list(single.state_dict())
        assert all(numpy.array_equal(member[k], v) for k, v in single.state_dict().items())


def test_shared_data_reaches_every_member(device):
    configs = [dict(SMALL, skip="residual", seed=s) for s in range(3)]
    model = ensemble(configs, device)
    x, y = _data(device, (10, 12), (10,))
    labels = mg.get_array_module(y).broadcast_to(y, (3, 10))
    losses = mg.to_host(objective(model, mg.Tensor(x), labels).data)
    for s, config in enumerate(configs):
        assert losses[s] == mg.to_float(objective(build(config).to(device), mg.Tensor(x), y).data)


def test_conv_members_run_one_after_another(device):
    configs = [dict(CONV, seed=s) for s in range(2)]
    model = ensemble(configs, device)
    assert isinstance(model, Looped)
    x, y = _data(device, (2, 4, 3, 8, 8), (2, 4))
    losses = objective(model, mg.Tensor(x), y)
    grads = mg.grad(losses.sum(), model.parameters())
    n = len(grads) // 2
    for s, config in enumerate(configs):
        single = build(config).to(device)
        loss = objective(single, mg.Tensor(x[s]), y[s])
        assert mg.to_float(loss.data) == mg.to_float(losses.data[s])
        for g_ens, g in zip(grads[s * n:(s + 1) * n], mg.grad(loss, single.parameters())):
            assert numpy.array_equal(mg.to_host(g_ens.data), mg.to_host(g.data))


def test_member_views_write_through():
    model = ensemble([dict(SMALL, seed=s) for s in range(2)])
    state = build(dict(SMALL, seed=5)).state_dict()
    model.member(1).load_state_dict(state)
    assert numpy.array_equal(model.net.hidden[2].weight.data[1], state["hidden.2.weight"])
    assert numpy.array_equal(model.net.hidden[2].bias.data[1, 0], state["hidden.2.bias"])
    assert not numpy.array_equal(model.net.hidden[2].weight.data[0], state["hidden.2.weight"])


def test_hessian_of_an_ensemble_is_block_diagonal():
    """One HVP of the summed loss with stacked directions gives every member's own HVP."""
    configs = [dict(SMALL, skip="hyperres", hyper_matrix="k2", bias_reg="cifar10", seed=s) for s in range(3)]
    model = ensemble(configs)
    x, y = _data("cpu", (20, 12), (20,))
    labels = numpy.broadcast_to(y, (3, 20))
    rng = numpy.random.default_rng(1)
    directions = [rng.standard_normal(p.shape) for p in model.parameters()]
    products = mg.hvp(lambda: objective(model, mg.Tensor(x), labels).sum(), model.parameters(), directions)
    for s, config in enumerate(configs):
        single = build(config)
        mine = [d[s].reshape(p.shape) for d, p in zip(directions, single.parameters())]
        expected = mg.hvp(lambda: objective(single, mg.Tensor(x), y), single.parameters(), mine)
        for got, want in zip(products, expected):
            numpy.testing.assert_allclose(got.data[s].reshape(want.shape), want.data, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- training

DATA = {"name": "synthetic", "synthetic_size": [300, 100], "synthetic_classes": 5, "mirror": True}
TRAINED = {
    "plain": {"arch": "mlp", "skip": "plain", "depth": 4, "width": 16},
    "residual": {"arch": "mlp", "skip": "residual", "depth": 4, "width": 16},
    "hyperres": {"arch": "mlp", "skip": "hyperres", "depth": 4, "width": 16},
    "biasreg-bn": {"arch": "mlp", "skip": "plain", "depth": 4, "width": 16, "bias_reg": "cifar10", "bn_layer": 2},
    "conv": {"arch": "conv", "blocks": 1, "widths": [4, 8], "skip": "residual", "batch_norm": True},
}


def config(model, seed, dtype="float64", **overrides):
    data = dict(DATA, flatten=False, synthetic_size=[100, 50]) if model.get("arch") == "conv" else DATA
    return TrainConfig(**{**dict(model=model, data=data, epochs=3, batch_size=64, lr=1e-3, seed=seed, dtype=dtype),
                          **overrides})


def outcome(run_dir):
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))]
    weights, optimizer, _ = load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))
    return rows, weights, optimizer


def assert_same(a, b, rtol=0.0):
    (rows_a, weights_a, opt_a), (rows_b, weights_b, opt_b) = outcome(a), outcome(b)
    assert len(rows_a) == len(rows_b)
    for r, q in zip(rows_a, rows_b):
        assert r.keys() == q.keys()
        numpy.testing.assert_allclose([r[k] for k in r], [q[k] for k in r], rtol=rtol)
    for k in weights_a:
        numpy.testing.assert_allclose(weights_a[k], weights_b[k], rtol=rtol, atol=0)
    assert opt_a["counts"] == opt_b["counts"] and opt_a["steps"] == opt_b["steps"]
    for sa, sb in zip(opt_a["state"], opt_b["state"]):
        for k in sa:
            numpy.testing.assert_allclose(sa[k], sb[k], rtol=rtol, atol=0)


@pytest.mark.parametrize("variant", sorted(TRAINED))
def test_an_ensemble_trains_exactly_its_single_runs(variant, tmp_path):
    """Metrics, final weights and Adam's state of every member equal its single run's (float64; found bitwise)."""
    seeds = (0, 5, 11)
    outcomes = train_ensemble([config(TRAINED[variant], s) for s in seeds], [tmp_path / f"e{s}" for s in seeds])
    assert [o["status"] for o in outcomes] == ["finished"] * 3
    for s in seeds:
        train(config(TRAINED[variant], s), str(tmp_path / f"s{s}"))
        assert_same(tmp_path / f"e{s}", tmp_path / f"s{s}", rtol=1e-10)
        assert sorted(os.listdir(tmp_path / f"e{s}")) == sorted(os.listdir(tmp_path / f"s{s}"))


def test_float32_ensemble_matches_single_runs(tmp_path):
    """float32: the same products per member, so the same numbers up to float32 rounding of reordered sums
    (rtol 1e-5 is about 100 float32 ulps; the runs agree far closer in practice)."""
    seeds = (1, 2)
    train_ensemble([config(TRAINED["residual"], s, "float32") for s in seeds], [tmp_path / f"e{s}" for s in seeds])
    for s in seeds:
        train(config(TRAINED["residual"], s, "float32"), str(tmp_path / f"s{s}"))
        assert_same(tmp_path / f"e{s}", tmp_path / f"s{s}", rtol=1e-5)


def test_resumed_ensemble_and_member_alone_end_where_the_uninterrupted_ensemble_does(tmp_path):
    model = TRAINED["residual"]
    seeds = (3, 4, 6)
    configs = [config(model, s, epochs=4) for s in seeds]
    train_ensemble(configs, [tmp_path / f"full{s}" for s in seeds])
    cut = [tmp_path / f"cut{s}" for s in seeds]
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(configs, cut, progress=StopAt(2, 3))
    alone = tmp_path / "alone"
    os.rename(cut[1], alone)                          # member 1 goes on by itself
    train_ensemble([configs[0], configs[2]], [cut[0], cut[2]], resume=True)
    train(configs[1], str(alone), resume=True)
    for s, folder in zip(seeds, (cut[0], alone, cut[2])):
        assert_same(folder, tmp_path / f"full{s}")


def test_an_ensembles_seconds_are_split_per_member_as_its_total_is(tmp_path):
    """Each member is given its share of the shared work, the measurements' part too: as if trained alone."""
    calls = []

    def nap(model, data, epoch):                      # measured member by member: 2 naps per epoch
        calls.append(epoch)
        time.sleep(0.05)
        return {"slept": 1.0}
    seeds = (0, 1)
    folders = [tmp_path / f"e{s}" for s in seeds]
    a, b = train_ensemble([config(TRAINED["residual"], s, epochs=2) for s in seeds], folders,
                          measurements=[EpochHook("nap", nap)])
    assert calls == [0, 0, 1, 1, 2, 2]
    assert all(a[k] == b[k] for k in ("seconds_total", "seconds_training", "seconds_measuring"))
    assert a["seconds_training"] + a["seconds_measuring"] == pytest.approx(a["seconds_total"])
    first, second = (load_checkpoint(os.path.join(f, "checkpoint.npz"))[2]["seconds_measuring"] for f in folders)
    assert first == second and all(m >= 0.05 for m in first)           # half of each epoch's 2 x 0.05 s
    assert a["seconds_measuring"] == pytest.approx(sum(first)) and "seconds_not_split" not in a


def test_a_time_limit_stops_between_epochs_and_the_runs_resume_to_the_same_end(tmp_path, monkeypatch):
    from models.training import loop

    class Clock:                                      # the loop reads time.time() once before each epoch
        calls = 0

        def time(self):
            self.calls += 1
            return float(self.calls)
        perf_counter = staticmethod(__import__("time").perf_counter)

    model, seeds = TRAINED["residual"], (2, 7)
    configs = [config(model, s, epochs=4) for s in seeds]
    train_ensemble(configs, [tmp_path / f"full{s}" for s in seeds])
    cut = [tmp_path / f"cut{s}" for s in seeds]
    monkeypatch.setattr(loop, "time", Clock())
    assert train_ensemble(configs, cut, stop_at=2.5) == [None, None]        # epochs 0, 1 and 2, then stopped
    monkeypatch.undo()
    for folder in cut:
        assert [r["epoch"] for r in read_jsonl(folder / "metrics.jsonl")] == [0, 1, 2]
        assert not (folder / "summary.json").exists()
    outcomes = train_ensemble(configs, cut, resume=True)
    assert [o["status"] for o in outcomes] == ["finished"] * 2
    assert outcomes[0]["machine"] == mg.describe("cpu") and mg.describe("cpu").startswith("CPU: ")
    for s, folder in zip(seeds, cut):
        assert_same(folder, tmp_path / f"full{s}")


def test_members_at_different_epochs_resume_together(tmp_path):
    model = TRAINED["plain"]
    a, b = tmp_path / "a", tmp_path / "b"
    train(config(model, 1, epochs=1), str(a))
    outcomes = train_ensemble([config(model, 1), config(model, 2)], [a, b], resume=[True, False])
    assert [o["status"] for o in outcomes] == ["finished", "finished"]
    train(config(model, 1), str(tmp_path / "a1"))
    assert_same(a, tmp_path / "a1")


def test_a_diverged_member_stops_and_the_others_go_on(tmp_path, monkeypatch):
    import models.ensemble
    original = models.ensemble.Stacked.__init__
    made = []

    def spy(self, members):
        original(self, members)
        made.append(self)
    monkeypatch.setattr(models.ensemble.Stacked, "__init__", spy)

    class Poison(Progress):
        def epoch(self, row):
            if row["epoch"] == 1:
                made[0].net.hidden[1].weight.data[1, 0, 0] = numpy.nan    # member 1 only
    seeds = (0, 1, 2)
    configs = [config(TRAINED["plain"], s) for s in seeds]
    outcomes = train_ensemble(configs, [tmp_path / f"e{s}" for s in seeds], progress=Poison())
    assert isinstance(outcomes[1], Diverged) and "epoch 2, step 0" in str(outcomes[1])
    assert "checkpoint of epoch 1 is kept" in str(outcomes[1])
    assert json.load(open(tmp_path / "e1" / "summary.json"))["status"] == "diverged"
    rows, weights, _ = outcome(tmp_path / "e1")
    assert [r["epoch"] for r in rows] == [0, 1] and all(numpy.isfinite(w).all() for w in weights.values())
    for s in (0, 2):
        assert outcomes[s]["status"] == "finished"
        train(configs[s], str(tmp_path / f"s{s}"))
        assert_same(tmp_path / f"e{s}", tmp_path / f"s{s}")


def test_ensemble_members_must_differ_only_in_seed(tmp_path):
    with pytest.raises(ValueError, match="only in their seed"):
        train_ensemble([config(TRAINED["plain"], 0), config(TRAINED["plain"], 1, lr=1e-2)],
                       [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="distinct run folders"):
        train_ensemble([config(TRAINED["plain"], 0), config(TRAINED["plain"], 1)], [tmp_path / "a", tmp_path / "a"])


@pytest.mark.parametrize("variant", ["residual", "biasreg-bn"])
def test_ensemble_training_on_each_device(variant, device, tmp_path):
    """The loop's ensemble path never converts device arrays implicitly (strict) and matches single runs there."""
    seeds = (2, 3)
    configs = [config(TRAINED[variant], s, epochs=2, device=device) for s in seeds]
    train_ensemble(configs, [tmp_path / f"e{s}" for s in seeds])
    for c in configs:
        train(c, str(tmp_path / f"s{c.seed}"))
        assert_same(tmp_path / f"e{c.seed}", tmp_path / f"s{c.seed}", rtol=1e-10)
