"""The report's time line: training and measuring apart where the runs recorded them, 'not recorded' where they
did not (the committed runs); and a run's name, which no timing may change."""
import json
import os
import tarfile

from analysis.reproduction import presets
from analysis.reproduction.reproduce import provenance, provenance_lines
from analysis.reproduction.spec import RunSpec
from models.training import TrainConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MACHINE = "CPU: AMD EPYC (2 cores)"


def spec(seed):
    config = TrainConfig(model={"arch": "mlp", "skip": "plain", "depth": 4, "width": 8},
                         data={"name": "synthetic", "synthetic_size": [120, 60]}, epochs=2, seed=seed)
    return RunSpec(config, {"meters": {"samples": 40}}, f"plain-s{seed}")


def write_runs(root, summaries):
    specs = [spec(s) for s in range(len(summaries))]
    for s, summary in zip(specs, summaries):
        os.makedirs(os.path.join(root, "runs", s.name))
        with open(os.path.join(root, "runs", s.name, "summary.json"), "w") as f:
            json.dump(summary, f)
    return {"Plain": specs}


def time_line(root, summaries):
    groups = write_runs(root, summaries)
    where = provenance(str(root), groups, groups)
    return where["training_seconds"], provenance_lines(where)[0]


def test_runs_that_timed_training_and_measuring_apart_report_both(tmp_path):
    runs = [{"status": "finished", "seconds_total": 600.0, "seconds_training": 540.0, "seconds_measuring": 60.0,
             "machine": MACHINE}] * 2
    times, line = time_line(tmp_path, runs)
    assert times == {MACHINE: {"total": 1200.0, "training": 1080.0, "measuring": 120.0, "not_split": 0.0}}
    assert f"recorded by these runs: training 18.0 min + measuring 2.0 min (11% of training) on {MACHINE}." in line


def test_older_runs_report_their_total_and_say_the_split_is_not_recorded(tmp_path):
    old = {"status": "finished", "seconds_total": 300.0, "machine": MACHINE}          # a committed run's summary
    times, line = time_line(tmp_path / "old", [old, old])
    assert times == {MACHINE: {"total": 600.0, "training": 0.0, "measuring": 0.0, "not_split": 600.0}}
    assert f"recorded by these runs: 10.0 min (training and measuring apart: not recorded) on {MACHINE}." in line
    continued = {"status": "finished", "seconds_total": 420.0, "seconds_training": 90.0, "seconds_measuring": 30.0,
                 "seconds_not_split": 300.0, "machine": MACHINE}             # an older run trained on since
    diverged = {"status": "diverged", "epoch": 2, "machine": MACHINE}        # records no time, as before
    times, line = time_line(tmp_path / "mixed", [old, continued, diverged])
    assert times == {MACHINE: {"total": 720.0, "training": 90.0, "measuring": 30.0, "not_split": 600.0}}
    assert ("training 1.5 min + measuring 0.5 min (33% of training), and 10.0 min of older epochs that did not "
            f"record the split on {MACHINE}.") in line
    # an older numbers.json's provenance: a bare total per machine
    where = {"seeds": {"Plain": {"done": [0], "declared": 1}}, "partial": False, "commit": None,
             "training_seconds": {MACHINE: 120.0}}
    assert f"2.0 min (training and measuring apart: not recorded) on {MACHINE}." in provenance_lines(where)[0]


def test_a_summary_that_cannot_be_read_counts_for_nothing(tmp_path):
    groups = write_runs(tmp_path, [{"status": "finished", "seconds_total": 60.0, "machine": MACHINE}])
    with open(os.path.join(tmp_path, "runs", groups["Plain"][0].name, "summary.json"), "w") as f:
        f.write("[1, 2")
    where = provenance(str(tmp_path), groups, groups)
    assert where["training_seconds"] == {"machines the runs did not record": {
        "total": 0.0, "training": 0.0, "measuring": 0.0, "not_split": 0.0}}
    provenance_lines(where)                                                  # no crash


def test_run_names_are_unchanged():
    """A run's folder is named by its settings alone: the committed paper runs keep their names."""
    assert spec(0).name == "plain-s0-" + spec(0).key and spec(0).key == PINNED
    fig3 = __import__("analysis.figures", fromlist=["FIGURES"]).FIGURES["fig3"]
    names = {s.name for runs in fig3.groups(presets.get("paper")).values() for s in runs}
    with tarfile.open(os.path.join(REPO, "docs", "results", "paper", "fig3", "runs.tar.gz")) as archive:
        committed = {m.name.split("/")[1] for m in archive.getmembers() if m.name.count("/") == 2}
    assert committed and committed <= names
    assert {"plain-d20-cifar100-s0-9f45f1590c", "hyperres-d20-cifar100-s0-07197861ea"} <= committed


PINNED = "11f7dfe858"                # the hash of spec(0) before run folders recorded any timing
