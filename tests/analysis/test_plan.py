"""The CPU plan's stages, the check that a done run is what its name says, and each run's provenance."""
import json
import shutil

import pytest
from click.testing import CliRunner

from analysis.figures import FIGURES
from analysis.figures.plan import PLAN, stages
from analysis.reproduction import presets, runner
from analysis.reproduction.claims import HELD, NOT_HELD, WITHIN, decided, power
from analysis.reproduction.reproduce import reproduce
from analysis.reproduction.sweep import Sweep

TEST = presets.get("test")


def test_the_plan_names_known_figures_and_curves_with_fixed_counts():
    for stage in PLAN:
        groups = FIGURES[stage.figure].groups(presets.get("paper"))
        assert stage.seeds in (5, 10) and all(label in groups for label in stage.curves or ())
    assert [s.figure for s in stages(["fig3", "plan"])][:2] == ["fig3", "fig3-readings"]
    readings = FIGURES["fig3-readings"].groups(presets.get("paper"))
    assert readings["Plain"] == FIGURES["fig3"].groups(presets.get("paper"))["Plain"]     # the stated cell's runs
    fidelity = {s.name for runs in FIGURES["fidelity"].groups(presets.get("paper")).values() for s in runs}
    assert all(s.name in fidelity for runs in readings.values() for s in runs)


def test_a_stage_trains_only_its_seeds_and_curves(tmp_path):
    summary = reproduce(FIGURES["fig5"], TEST, Sweep(tmp_path), curves=("Plain (CIFAR-10)", "Residual (CIFAR-10)"),
                        seeds=1)
    groups = FIGURES["fig5"].groups(TEST)
    done = {s.name for runs in groups.values() for s in runs if runner.state(tmp_path, s) == "finished"}
    assert done == {groups["Plain (CIFAR-10)"][0].name, groups["Residual (CIFAR-10)"][0].name}
    assert summary["provenance"]["partial"]
    later = [m for state, m in summary["not_finished"].values() if m == runner.LATER]
    assert len(later) == sum(len(r) for r in groups.values()) - 2


def test_a_done_run_that_is_not_what_its_name_says_is_not_used(tmp_path):
    spec = FIGURES["fig3"].groups(TEST)["Plain"][0]
    other = FIGURES["fig3"].groups(TEST)["Residual"][0]
    reproduce(FIGURES["fig3"], TEST, Sweep(tmp_path), curves=("Plain", "Residual"), seeds=1)
    assert runner.verify(tmp_path, spec) is None
    folder, intruder = runner.run_dir(tmp_path, spec), runner.run_dir(tmp_path, other)
    for name in ("config.json", "metrics.jsonl", "summary.json"):          # another run's files copied in
        shutil.copy(f"{intruder}/{name}", f"{folder}/{name}")
    before = open(f"{folder}/config.json").read()
    message = runner.verify(tmp_path, spec)
    assert spec.name in message and "skip" in message and "mv " in message
    states = runner.execute([spec], Sweep(tmp_path))
    assert states[spec.name] == (runner.MISMATCH, message) and open(f"{folder}/config.json").read() == before
    summary = reproduce(FIGURES["fig3"], TEST, Sweep(tmp_path, stop_at=0))
    assert summary["runs_per_group"]["Plain"] == 0 and spec.name in summary["not_finished"]
    with open(f"{intruder}/metrics.jsonl") as f:                           # an epoch twice, or missing
        rows = f.read().splitlines()
    with open(f"{intruder}/metrics.jsonl", "w") as f:
        f.write("\n".join(rows + rows[-1:]) + "\n")
    assert "each epoch" in runner.verify(tmp_path, other)
    with open(f"{intruder}/metrics.jsonl", "w") as f:
        f.write("\n".join(rows[:-1]) + "\n")
    assert "each epoch" in runner.verify(tmp_path, other)
    with open(f"{intruder}/config.json", "w") as f:
        f.write("{}")
    assert "config.json differs" in runner.verify(tmp_path, other)


def test_a_run_resumed_in_place_with_more_epochs_is_not_used(tmp_path):
    from cli import main
    spec = FIGURES["fig3"].groups(TEST)["Plain"][0]
    reproduce(FIGURES["fig3"], TEST, Sweep(tmp_path), curves=("Plain",), seeds=1)
    folder = runner.run_dir(tmp_path, spec)
    result = CliRunner().invoke(main, ["train", "--out", folder, "--resume", "--epochs", "4"])
    assert result.exit_code == 0, result.output
    assert "epochs" in runner.verify(tmp_path, spec)


def test_each_run_records_the_code_and_machine_of_each_stretch(tmp_path):
    spec = FIGURES["fig3"].groups(TEST)["Plain"][0]
    reproduce(FIGURES["fig3"], TEST, Sweep(tmp_path), curves=("Plain",), seeds=1)
    with open(f"{runner.run_dir(tmp_path, spec)}/summary.json") as f:
        stretches = json.load(f)["stretches"]
    assert [s["from_epoch"] for s in stretches] == [0] and "machine" in stretches[0] and "commit" in stretches[0]


@pytest.mark.parametrize("verdict,label", [(HELD, "decided"), (NOT_HELD, "decided"), (WITHIN, "underpowered"),
                                           ("no fit", "")])
def test_decided_or_underpowered(verdict, label):
    assert decided(verdict) == label


def test_power_grows_with_seeds_and_matches_a_simulation():
    import numpy
    from analysis.reproduction.claims import pair_test
    assert power(3, 0.01, 0.01) < power(5, 0.01, 0.01) < power(10, 0.01, 0.01) < 1
    rng = numpy.random.default_rng(0)
    held = [pair_test(0.02 + 0.01 * rng.standard_normal(5), numpy.zeros(5), 0.01, True)["verdict"] == HELD
            for _ in range(4000)]
    assert abs(numpy.mean(held) - power(5, 0.01, 0.01)) < 0.03
