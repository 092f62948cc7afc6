"""The benchmark harness: each timed call starts and ends with its engine's device synchronized; W4 runs."""
import json

import numpy
import pytest
from click.testing import CliRunner

import minigrad as mg
from benchmarks import ensemble
from benchmarks.engine import time_cases
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
