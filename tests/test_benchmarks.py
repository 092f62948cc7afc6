"""The benchmark harness: each timed call starts and ends with its engine's device synchronized; W4 runs."""
import json
import sys

import numpy
import pytest
from click.testing import CliRunner

import minigrad as mg
from analysis.bench import ensemble
from analysis.bench.engine import time_cases
from models import build, objective
from models.ensemble import ensemble as make_ensemble


def test_every_timed_call_is_fenced_by_its_engines_synchronization():
    events = []
    groups = {"ours": {"W": lambda: events.append("ours")}, "theirs": {"W": lambda: events.append("theirs")}}
    syncs = {"ours": lambda: events.append("sync ours"), "theirs": lambda: events.append("sync theirs")}
    times = time_cases(groups, repeats=2, warmup=1, syncs=syncs)
    assert events == ["ours"] + ["sync ours", "ours", "sync ours"] * 2 + ["theirs"] + \
        ["sync theirs", "theirs", "sync theirs"] * 2
    assert set(times) == {"ours", "theirs"} and all(ms >= 0 for t in times.values() for ms in t.values())


# ----------------------------------------------------------------------------- W4: seed ensembles


@pytest.mark.parametrize("device", ["cpu", "strict"])     # strict: no implicit device -> host conversion
def test_w4_times_an_ensemble_epoch_and_a_single_net_epoch(device):
    result = ensemble.run(members=2, images=600, repeats=1, skips=("plain",), with_torch=device == "cpu",
                          device=device)
    assert (result["members"], result["images"], result["batch_size"]) == (2, 600, 500)
    for who in ("minigrad", "torch") if result["torch"] else ("minigrad",):
        timings = result[who]["plain"]
        assert [timings[w]["nets"] for w in ("ensemble", "single")] == [2, 1], who
        for timing in timings.values():
            assert len(timing["samples_s"]) == 1 and timing["epoch_s"] > 0
            assert timing["net_epoch_s"] == pytest.approx(timing["epoch_s"] / timing["nets"])
    rows = ensemble.table_rows(result)
    assert [r["workload"] for r in rows] == ["ensemble of 2", "single net"]
    assert all((r["ratio"] is None) == (not result["torch"]) for r in rows)


def test_the_pytorch_ensemble_computes_the_minigrad_ensemble():
    torch = pytest.importorskip("torch")
    configs = [dict(inputs=12, width=8, depth=3, classes=4, skip="residual", seed=s, dtype="float64") for s in (0, 1)]
    x = numpy.random.default_rng(0).standard_normal((2, 5, 12))
    y = numpy.random.default_rng(1).integers(0, 4, (2, 5))
    ours = make_ensemble(configs)
    forward, params = ensemble.stacked_twin([build(c).state_dict() for c in configs], "residual")
    losses = objective(ours, mg.Tensor(x), y)
    losses.sum().backward()
    logits = forward(torch.from_numpy(x))
    theirs = torch.nn.functional.cross_entropy(logits.flatten(0, 1), torch.from_numpy(y).flatten(), reduction="none")
    theirs.view(2, 5).mean(dim=1).sum().backward()
    assert numpy.allclose(losses.data, theirs.view(2, 5).mean(dim=1).detach().numpy())
    for p, q in zip(ours.parameters(), params, strict=True):
        assert numpy.allclose(p.grad.data, q.grad.numpy())


def test_bench_runs_w4_from_the_command_line(tmp_path):
    from cli import main
    out = tmp_path / "ensemble.json"
    result = CliRunner().invoke(main, ["bench", "--workload", "ensemble", "--members", "2", "--images", "600",
                                       "--skip", "plain", "--repeats", "1", "--no-torch", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "W4" in result.output and "PyTorch not timed" in result.output
    assert {w: t["nets"] for w, t in json.load(open(out))["minigrad"]["plain"].items()} == {"ensemble": 2, "single": 1}


@pytest.fixture
def tiny_engine(monkeypatch):
    """W1 and W2 on a net and batches small enough for a test (the shapes are the module's constants)."""
    from analysis.bench import engine
    for name, value in (("INPUTS", 12), ("WIDTH", 8), ("DEPTH", 2), ("BATCH_TRAIN", 10), ("BATCH_HVP", 16)):
        monkeypatch.setattr(engine, name, value)


@pytest.mark.parametrize("workload, extra", [("engine", []), ("ensemble", ["--members", "2", "--images", "600"])])
def test_bench_says_pytorch_is_missing_and_how_to_install_it(workload, extra, tiny_engine, monkeypatch, tmp_path):
    """A blank PyTorch column is explained, the same way for every workload: not installed, and the install."""
    from cli import main
    monkeypatch.setitem(sys.modules, "torch", None)                  # `import torch` raises ImportError
    result = CliRunner().invoke(main, ["bench", "--workload", workload, *extra, "--skip", "plain", "--repeats", "1",
                                       "--out", str(tmp_path / "bench.json")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())                           # the table's title wraps
    assert "PyTorch is not installed (python -m pip install torch to time it too)" in said, result.output


# ----------------------------------------------------------------------------- W4 at the GEMM floor


def test_step_products_of_a_tiny_net_match_a_hand_count():
    """Layers 4 -> 3 -> 2 at batch 5: forward X Wᵀ per layer, backward dX = dY W (not for the data) and
    dW = dYᵀ X per layer, in the order the reverse pass runs them; 2·m·k·n FLOPs each, per member."""
    products = ensemble.step_products([4, 3, 2], batch=5, members=2)
    assert [(p.name, p.a, p.b, p.ta, p.tb) for p in products] == [
        ("forward 0", (2, 5, 4), (2, 3, 4), False, True),       # X0 (S, B, in) @ W0ᵀ
        ("forward 1", (2, 5, 3), (2, 2, 3), False, True),
        ("dX 1", (2, 5, 2), (2, 2, 3), False, False),           # dY1 @ W1
        ("dW 1", (2, 5, 2), (2, 5, 3), True, False),            # dY1ᵀ @ X1
        ("dW 0", (2, 5, 3), (2, 5, 4), True, False)]
    hand = 2 * 2 * (5 * 4 * 3 + 5 * 3 * 2 + 5 * 2 * 3 + 2 * 5 * 3 + 3 * 5 * 4)
    assert sum(p.flops for p in products) == hand == 840
    single = ensemble.step_products([4, 3, 2], batch=5)
    assert [p.a for p in single][:2] == [(5, 4), (5, 3)] and sum(p.flops for p in single) == hand // 2


@pytest.mark.parametrize("skip, members", [("plain", 2), ("residual", 3), ("plain", 1)])
def test_the_floor_times_the_products_a_real_training_step_runs(skip, members, monkeypatch):
    """The floor's products are read off the ensemble the engine trains (net_products); here they are checked
    against every product one minigrad step of that ensemble runs, traced at the two product ops: the same
    operands as stored (shapes), the same transposed reads, as many of each."""
    from minigrad.ops import linalg
    for name, value in (("INPUTS", 12), ("WIDTH", 8), ("DEPTH", 3), ("CLASSES", 4)):
        monkeypatch.setattr(ensemble, name, value)

    def stored(a):
        """The shape of the array a product reads as stored, and whether it reads it transposed (a swapped view)."""
        swapped = a.strides[-1] > a.strides[-2]
        return (a.shape[:-2] + a.shape[-2:][::-1] if swapped else a.shape), swapped
    ran, matmul, dense = [], linalg.MatMul.forward, linalg.Linear.forward

    def traced_matmul(self, a, b):
        (sa, ta), (sb, tb) = stored(a), stored(b)
        ran.append((sa, sb, ta, tb))
        return matmul(self, a, b)

    def traced_dense(self, x, w, b=None):
        ran.append((stored(x)[0], stored(w)[0], stored(x)[1], not stored(w)[1]))    # x Wᵀ: W read transposed
        return dense(self, x, w, b)
    cpu = mg.get_device("cpu")
    data = tuple(mg.to_device(a, cpu) for a in ensemble.synthetic_images(600))
    epoch = ensemble.minigrad_epoch(list(range(members)), skip, data, cpu)
    with monkeypatch.context() as traced:
        traced.setattr(linalg.MatMul, "forward", traced_matmul)
        traced.setattr(linalg.Linear, "forward", traced_dense)
        epoch(0, steps=1)
    floor = ensemble.floor_epoch(list(range(members)), skip, data, cpu)
    assert len(floor.products) == 3 * 4 - 1
    assert sorted(ran) == sorted((p.a, p.b, p.ta, p.tb) for p in floor.products)


def test_net_products_refuses_a_net_that_is_not_a_chain_of_dense_layers():
    from minigrad import nn
    with pytest.raises(ValueError, match="do not chain"):
        ensemble.net_products(nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)), 10)


@pytest.mark.parametrize("device", ["cpu", "strict"])     # strict: the floor's operands live on the device
def test_w4_times_the_floor_in_the_same_run_and_reports_step_over_floor(device, monkeypatch):
    for name, value in (("INPUTS", 12), ("WIDTH", 8), ("DEPTH", 3), ("CLASSES", 4)):
        monkeypatch.setattr(ensemble, name, value)
    result = ensemble.run(members=2, images=600, repeats=1, skips=("plain",), with_torch=False, device=device)
    floors = result["floor"]["plain"]
    for workload, nets in (("ensemble", 2), ("single", 1)):
        products = ensemble.step_products([12, 8, 8, 8, 4], 500, nets)
        assert floors[workload]["products"] == len(products) == 3 * 3 + 2
        assert floors[workload]["step_gflop"] == pytest.approx(sum(p.flops for p in products) / 1e9)
        assert floors[workload]["nets"] == nets and floors[workload]["epoch_s"] > 0
    for row in ensemble.table_rows(result):
        floor = floors["ensemble" if row["workload"].startswith("ensemble") else "single"]
        assert row["floor_epoch_s"] == floor["epoch_s"]
        assert row["over_floor"] == pytest.approx(row["epoch_s"] / floor["epoch_s"])
        assert row["torch_over_floor"] is None


def test_training_and_the_benchmarks_tune_the_allocator_with_one_function(monkeypatch, tmp_path):
    """One definition (minigrad.allocator), called by every benchmark and once by a training run."""
    import importlib.util
    from analysis.bench import engine, lanczos
    from minigrad.allocator import tune_allocator
    from models.training import TrainConfig, loop, train
    assert importlib.util.find_spec("analysis.bench.allocator") is None
    assert ensemble.tune_allocator is engine.tune_allocator is lanczos.tune_allocator is loop.tune_allocator \
        is tune_allocator
    assert tune_allocator() == tune_allocator()          # applied once per process; later calls answer the same
    calls = []
    monkeypatch.setattr(loop, "tune_allocator", lambda: calls.append(1))
    train(TrainConfig(model={"arch": "mlp", "depth": 2, "width": 8}, epochs=1, batch_size=50,
                      data={"name": "synthetic", "synthetic_size": [100, 20], "synthetic_classes": 3}),
          str(tmp_path / "run"))
    assert calls == [1]


def test_bench_runs_the_lanczos_workload_from_the_command_line(monkeypatch, tmp_path):
    """The Lanczos timing is a workload of `cli.py bench`, not a command of its own: its JSON and its table."""
    from analysis.bench import engine
    from cli import main
    for name, value in (("WIDTH", 8), ("DEPTH", 2)):     # the inputs stay the synthetic images' 3072
        monkeypatch.setattr(engine, name, value)
    out = tmp_path / "lanczos.json"
    result = CliRunner().invoke(main, ["bench", "--workload", "lanczos", "--steps", "3", "--samples", "16",
                                       "--no-torch", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "3 float64 Lanczos steps" in said and "PyTorch not timed (--no-torch)" in said, result.output
    numbers = json.load(open(out))
    assert numbers["steps"] == 3 and numbers["minigrad"]["hvps"] == 3 and "torch" not in numbers


# ----------------------------------------------------------------------------- W5: processes x BLAS threads


def test_w5_splits_the_cores_every_way_and_reads_each_layout_against_one_process():
    from analysis.bench import workers
    assert workers.layouts(1) == [(1, 1)]
    assert workers.layouts(2) == [(1, 2), (2, 1)]
    assert workers.layouts(6) == [(1, 6), (2, 3), (3, 2), (6, 1)]
    result = {"cores": 2, "auto": [2, 1], "members": 10, "images": 2000, "epochs": 3, "skip": "plain",
              "layouts": [{"processes": 1, "threads": 2, "seconds": 6.0, "net_epochs_per_hour": 18000.0},
                          {"processes": 2, "threads": 1, "seconds": 8.0, "net_epochs_per_hour": 27000.0}]}
    [(title, columns, rows)] = workers.tables(result)
    assert "2 cores" in title and columns[-1] == "vs 1 x 2"
    assert rows == [("1 x 2", "6", "1.8e+04", "1.00"), ("2 x 1 (auto)", "8", "2.7e+04", "1.50")]
