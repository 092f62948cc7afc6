"""Damaged files, full disks, nets too large for the machine and bad input: one sentence each, nothing half-written."""
import errno
import json
import os
import shutil

import numpy
import pytest
from click.testing import CliRunner

from analysis.figures import FIGURES
from analysis.reproduction import presets, runner, sweep
from analysis.reproduction.reproduce import reproduce, write_index
from cli import main
from models import build
from models.files import WriteError, append_jsonl, atomic_write, read_jsonl, write_text
from models.memory import TooLarge, check_fits, counts, estimate
from models.training import RunError, TrainConfig, read_config, train_ensemble
from models.training.checkpoint import load_checkpoint

TEST = presets.get("test")
NET = ["--dataset", "synthetic", "--depth", "2", "--width", "8"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_sentence(result, *parts):
    """The command failed with one line that holds every part, and no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, result.output
    for part in parts:
        assert part in error[0], result.output
    return error[0]


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ----------------------------------------------------------------------------- full disks

def test_a_refused_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    write_text(path, "the old result\n")

    def half_then_full(tmp):
        with open(tmp, "w") as f:
            f.write("half of a new")
        full_disk()
    with pytest.raises(WriteError) as err:
        atomic_write(str(path), half_then_full)
    assert err.value.errno == errno.ENOSPC and err.value.folder == str(tmp_path)
    assert str(err.value) == f"cannot write {path} (No space left on device)"
    assert path.read_text() == "the old result\n" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    lines = tmp_path / "metrics.jsonl"
    append_jsonl(lines, {"epoch": 0})
    real_write = os.write

    def some_then_full(fd, data):
        if len(data) > 4:
            return real_write(fd, bytes(data[:4]))        # a short write lands, then the disk is full
        full_disk()
    monkeypatch.setattr(os, "write", some_then_full)
    with pytest.raises(WriteError):
        append_jsonl(lines, {"epoch": 1, "train_acc": 0.5})
    monkeypatch.undo()
    assert read_jsonl(lines) == [{"epoch": 0}]                # no half line left behind


def test_a_full_disk_during_training_is_one_sentence_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert invoke("train", *NET, "--epochs", "1", "--out", run).exit_code == 0
    before = (run / "checkpoint.npz").read_bytes()

    def savez_half(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"PK half a zip")
        full_disk()
    monkeypatch.setattr(numpy, "savez", savez_half)
    result = invoke("train", "--resume", "--epochs", "2", "--out", run)
    one_sentence(result, f"cannot write to {run} (No space left on device); free space there or choose another --out")
    assert (run / "checkpoint.npz").read_bytes() == before
    assert load_checkpoint(str(run / "checkpoint.npz"))[2]["history"][-1]["epoch"] == 1
    assert [row["epoch"] for row in read_jsonl(run / "metrics.jsonl")] == [0, 1]
    assert not [p for p in os.listdir(run) if p.startswith(".tmp-")]
    monkeypatch.undo()
    assert invoke("train", "--resume", "--epochs", "2", "--out", run).exit_code == 0    # space again: it continues


def test_a_full_disk_while_measuring_is_one_sentence_and_keeps_the_earlier_result(tmp_path, monkeypatch):
    out = tmp_path / "meters"
    assert invoke("singularities", *NET, "--samples", "50", "--out", out).exit_code == 0
    before = (out / "meters.json").read_bytes()
    monkeypatch.setattr(os, "fsync", full_disk)
    result = invoke("singularities", *NET, "--samples", "50", "--out", out)
    one_sentence(result, f"cannot write to {out} (No space left on device); free space there or choose another --out")
    assert (out / "meters.json").read_bytes() == before


def test_a_full_disk_while_drawing_a_figure_is_one_sentence_and_keeps_the_earlier_figure(tmp_path, monkeypatch):
    import matplotlib.figure
    args = ["reproduce", "figS3", "--preset", "test", "--workers", "1", "--stop-after", "0", "--out", tmp_path]
    invoke(*args)                                   # nothing trained: drawn without data
    before = (tmp_path / "figS3" / "figure.png").read_bytes()
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: full_disk())
    result = invoke(*args)
    one_sentence(result, f"cannot write to {tmp_path / 'figS3'} (No space left on device); free space there")
    assert (tmp_path / "figS3" / "figure.png").read_bytes() == before
    assert not [p for p in os.listdir(tmp_path / "figS3") if p.startswith(".tmp-")]


# ----------------------------------------------------------------------------- damaged run files

@pytest.fixture(scope="module")
def figS3_root(figS3_test_root):
    """A reproduction folder with figS3's four test runs done (trained once for the session: tests/conftest.py)."""
    return figS3_test_root


def _copy(root, tmp_path):
    shutil.copytree(root, tmp_path / "root")
    return tmp_path / "root"


def _first_run(root):
    spec = next(iter(FIGURES["figS3"].groups(TEST).values()))[0]
    return spec, root / "runs" / spec.name


def test_a_truncated_metrics_file_of_a_finished_run_is_set_aside(figS3_root, tmp_path):
    root = _copy(figS3_root, tmp_path)
    spec, folder = _first_run(root)
    metrics = (folder / "metrics.jsonl").read_bytes()
    (folder / "metrics.jsonl").write_bytes(metrics[:-50])
    summary = reproduce(FIGURES["figS3"], TEST, sweep.Sweep(str(root), stop_at=0))
    state, message = summary["not_finished"][spec.name]
    assert state == runner.MISMATCH and "cannot be read" in message and "metrics.jsonl" in message
    assert f"mv {folder} {folder}.set-aside" in message
    assert (folder / "metrics.jsonl").read_bytes() == metrics[:-50]          # nothing in it changed


def test_garbage_metrics_in_an_unpacked_run_are_set_aside_by_reproduce(figS3_root, tmp_path):
    archive = tmp_path / "runs.tar.gz"
    assert invoke("runs", "pack", figS3_root, archive).exit_code == 0
    root = tmp_path / "there"
    assert invoke("runs", "unpack", archive, root).exit_code == 0
    spec, folder = _first_run(root)
    rows = read_jsonl(folder / "metrics.jsonl")        # whole lines of JSON, each epoch once, values garbage
    (folder / "metrics.jsonl").write_text("".join(json.dumps({k: v if k == "epoch" else "garbage"
                                                              for k, v in row.items()}) + "\n" for row in rows))
    result = invoke("reproduce", "figS3", "--preset", "test", "--workers", "1", "--stop-after", "0", "--out", root)
    one_sentence(result, "figS3: 1 runs not done")
    assert f"{spec.name}: mismatched" in " ".join(result.output.split())
    report = (root / "figS3" / "report.md").read_text()
    assert "not a number" in report and ".set-aside" in report


def test_metrics_damaged_after_the_check_are_set_aside_in_aggregation(figS3_root, tmp_path, monkeypatch):
    """The aggregation reads each run again: a file damaged since `verify` read it is set aside, not a crash."""
    root = _copy(figS3_root, tmp_path)
    spec, folder = _first_run(root)
    (folder / "metrics.jsonl").write_text('{"epoch": 0, "train_acc": [1, "x"]}\n')
    monkeypatch.setattr(runner, "verify", lambda root, spec: None)
    summary = reproduce(FIGURES["figS3"], TEST, sweep.Sweep(str(root), stop_at=0))
    assert summary["not_finished"][spec.name][0] == runner.MISMATCH
    assert summary["runs_per_group"] and sum(summary["runs_per_group"].values()) == 3


def test_a_damaged_numbers_file_of_another_figure_is_left_out_with_a_note(tmp_path):
    (tmp_path / "fig6").mkdir()
    (tmp_path / "fig6" / "numbers.json").write_text('{"claims": [{"claim": "x", "metr')
    (tmp_path / "fig7").mkdir()
    (tmp_path / "fig7" / "numbers.json").write_text('{"claims": [3], "seconds": 1}')
    result = invoke("reproduce", "figS5", "--preset", "test", "--workers", "1", "--out", tmp_path)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    index = (tmp_path / "CLAIMS.md").read_text()
    assert "[figS5](figS5/report.md)" in index
    assert "- fig6: its numbers.json cannot be read" in index and "- fig7: its numbers.json cannot be read" in index
    assert "left out fig6: its numbers.json cannot be read" in " ".join(result.output.split())
    notes = []
    write_index(str(tmp_path), TEST, notes)
    assert [note.split(":")[0] for note in notes] == ["fig6", "fig7"] and "`reproduce fig6`" in notes[0]


# ----------------------------------------------------------------------------- damaged settings

@pytest.mark.parametrize("field, value, message", [
    ("depth", "four", "model.depth must be an integer >= 1, not 'four'"),
    ("width", 0, "model.width must be an integer >= 1, not 0"),
    ("skip", "sideways", "model.skip must be one of 'plain', 'residual', 'hyperres', not 'sideways'"),
    ("lr", -1, "lr must be a positive finite number, not -1"),
    ("pca", 2.5, "data.pca must be an integer >= 1 or null, not 2.5"),
])
def test_a_saved_setting_of_the_wrong_type_or_range_is_named_with_its_file(tmp_path, field, value, message):
    run = tmp_path / "run"
    assert invoke("train", *NET, "--epochs", "1", "--out", run).exit_code == 0
    saved = json.loads((run / "config.json").read_text())
    part = saved["model"] if field in ("depth", "width", "skip") else saved["data"] if field == "pca" else saved
    part[field] = value
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(RunError, match="config.json in .* is damaged"):
        read_config(str(run))
    for result in (invoke("train", "--resume", "--epochs", "2", "--out", run),
                   invoke("spectrum", "--run", run, "--out", tmp_path / "spectrum")):
        one_sentence(result, f"config.json in {run} is damaged ({message})", "restore it")


def test_every_declared_run_passes_the_settings_check():
    from models.training.settings import check_config
    for name in ("test", "quick", "paper"):
        for figure in FIGURES.values():
            if figure.kind == "runs":
                for runs in figure.groups(presets.get(name)).values():
                    for spec in runs:
                        check_config(spec.config)


# ----------------------------------------------------------------------------- memory

@pytest.mark.parametrize("model, inputs", [
    ({"arch": "mlp", "skip": "plain", "depth": 3, "width": 8}, 12),
    ({"arch": "mlp", "skip": "residual", "depth": 4, "width": 8, "skip_matrix": "ortho", "bias_reg": "cifar10",
      "bn_layer": 2, "branch_init": "skipinit"}, 12),
    ({"arch": "mlp", "skip": "residual", "depth": 4, "width": 8, "skip_matrix": "k4", "skip_shared": False}, 12),
    ({"arch": "mlp", "skip": "hyperres", "depth": 5, "width": 8}, 12),
    ({"arch": "conv", "skip": "residual", "blocks": 2, "widths": [4, 8, 16], "batch_norm": True, "bias_reg": "l2"},
     (3, 32, 32)),
])
def test_the_estimate_counts_what_the_net_holds(model, inputs):
    net = build(dict(model, **({"inputs": inputs} if model["arch"] == "mlp" else {})), classes=5, seed=0)
    parameters = sum(p.data.size for p in net.parameters())
    buffers = sum(b.size for _, b in net.named_buffers())
    assert counts(model, inputs, 5)[:2] == (parameters, buffers)
    need = estimate(model, inputs, 5, batch_size=10, dtype="float64", members=3)
    assert need["optimizer"] == 3 * 2 * parameters * 8 and need["weights"] == 3 * (2 * parameters + buffers) * 8
    assert need["total"] == need["weights"] + need["optimizer"] + need["activations"]


def test_a_net_too_large_for_the_machine_is_refused_before_it_is_built(tmp_path, monkeypatch):
    model = {"arch": "mlp", "skip": "plain", "depth": 30, "width": 30000}
    with pytest.raises(TooLarge, match=r"needs about 397 GiB of memory to train \(weights and gradients 195 GiB, "
                                       r"Adam's state 195 GiB, .*\) but the machine has 16 GiB available"):
        check_fits(model, 3072, 20, 500, have=(16 * 2 ** 30, "available"))
    assert check_fits({"arch": "mlp", "depth": 2, "width": 8}, 3072, 20, 500, have=(16 * 2 ** 30, "available"))
    result = invoke("train", "--dataset", "synthetic", "--depth", "30", "--width", "30000", "--out", tmp_path / "big")
    one_sentence(result, "this net needs about", "GiB of memory to train", "but the machine has", "choose a smaller")
    assert not (tmp_path / "big").exists()
    import models.memory
    monkeypatch.setattr(models.memory, "available", lambda device="cpu": (2 ** 20, "available"))
    config = TrainConfig(model={"arch": "mlp", "depth": 2, "width": 64}, data={"name": "synthetic"}, epochs=1)
    with pytest.raises(RunError, match="needs about .* but the machine has 1 MiB available"):     # resume, reproduce
        train_ensemble([config], [tmp_path / "run"])
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("command", ["train --dataset synthetic --depth 2 --width 8 --epochs 1",
                                     "spectrum --dataset synthetic --depth 2 --width 8 --method exact",
                                     "singularities --dataset synthetic --depth 2 --width 8",
                                     "reproduce fig6 --preset test", "toy linear --quick", "bench --repeats 1"])
@pytest.mark.parametrize("name", ["new\nline", "tab\there", "escape\x1b[31m"])
def test_an_output_path_with_a_control_character_is_refused(tmp_path, command, name):
    out = tmp_path / name
    result = invoke(*command.split(), "--out", out)
    one_sentence(result, f"--out {str(out)!r} holds the control character", "choose another --out")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_time_limit_that_is_not_finite_is_refused(tmp_path, value):
    result = invoke("reproduce", "fig6", "--preset", "test", "--workers", "1", "--stop-after", value, "--out", tmp_path)
    assert result.exit_code == 2 and "must be a finite number" in result.output and "Traceback" not in result.output
    assert os.listdir(tmp_path) == []
