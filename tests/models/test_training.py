"""The training loop: reproducible, resumable to the same result, divergence kept safe, clear CLI errors."""
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import fields

import numpy
import pytest

from models.training import (Diverged, EpochHook, Progress, RunError, RunLocked, RunWarning, TrainConfig, load_run,
                             read_config, train, train_ensemble, wait_unlocked)
from models.files import read_jsonl
from models.training.checkpoint import load_checkpoint, save_checkpoint
from models.training.lock import _process_start

SMALL_DATA = {"name": "synthetic", "synthetic_size": [300, 100], "synthetic_classes": 5, "mirror": True}


def config(**overrides):
    base = dict(model={"arch": "mlp", "skip": "residual", "depth": 4, "width": 16}, data=dict(SMALL_DATA),
                epochs=4, batch_size=64, lr=1e-3, seed=3)
    base.update(overrides)
    return TrainConfig(**base)


def metrics(run_dir):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))]


def final_weights(run_dir):
    return load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))[0]


class StopAt(Progress):
    """Interrupts a run in the middle of an epoch, like Ctrl-C or a killed job."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def step(self, epoch, step, loss):
        if (epoch, step) == self.at:
            raise KeyboardInterrupt


def test_run_folder_contents_and_learning(tmp_path):
    summary = train(config(epochs=6), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "config.json", "metrics.jsonl", "summary.json"]
    rows = metrics(tmp_path)
    assert [r["epoch"] for r in rows] == list(range(7))
    assert rows[-1]["train_acc"] > 0.5 > rows[0]["train_acc"]      # 5 learnable classes: it learns
    saved = json.load(open(tmp_path / "config.json"))
    assert TrainConfig.from_dict({k: v for k, v in saved.items() if k != "data_info"}) == config(epochs=6)
    assert saved["data_info"]["sizes"]["train"] == 600                 # mirrors added
    assert summary["status"] == "finished" and summary["train_acc"] == rows[-1]["train_acc"]


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    train(config(), str(tmp_path / "a"))
    train(config(), str(tmp_path / "b"))
    train(config(seed=4), str(tmp_path / "c"))
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert metrics(tmp_path / "a") != metrics(tmp_path / "c")


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    train(config(), str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path / "cut"), progress=StopAt(epoch=3, step=2))
    assert [r["epoch"] for r in read_jsonl(tmp_path / "cut" / "metrics.jsonl")] == [0, 1, 2]
    train(config(), str(tmp_path / "cut"), resume=True)
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "whole")
    a, b = final_weights(tmp_path / "whole"), final_weights(tmp_path / "cut")
    assert all(numpy.array_equal(a[k], b[k]) for k in a)


def test_a_finished_run_can_be_extended(tmp_path):
    train(config(epochs=4), str(tmp_path / "long"))
    train(config(epochs=2), str(tmp_path / "short"))
    train(config(epochs=4), str(tmp_path / "short"), resume=True)
    assert metrics(tmp_path / "short") == metrics(tmp_path / "long")


def test_run_folder_misuse_is_refused(tmp_path):
    with pytest.raises(RunError, match="nothing to resume"):
        train(config(), str(tmp_path / "empty"), resume=True)
    train(config(epochs=1), str(tmp_path / "done"))
    with pytest.raises(RunError, match="already holds a run"):
        train(config(epochs=1), str(tmp_path / "done"))


class PoisonAfter(Progress):
    """Sets a weight to NaN after an epoch's checkpoint is written, so the next epoch diverges."""

    def __init__(self, model_holder, epoch):
        self.holder, self.at = model_holder, epoch

    def epoch(self, row):
        if row["epoch"] == self.at:
            self.holder["poison"]()


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import models.ensemble
    built = {}
    original = models.ensemble.build

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built["poison"] = lambda: model.hidden[1].weight.data.__setitem__((0, 0), numpy.nan)
        return model
    monkeypatch.setattr(models.ensemble, "build", spy)
    with pytest.raises(Diverged, match=r"diverged at epoch 2, step 0 .*checkpoint of epoch 1 is kept"):
        train(config(), str(tmp_path), progress=PoisonAfter(built, 1))
    weights, _, meta = load_checkpoint(os.path.join(tmp_path, "checkpoint.npz"))
    assert [r["epoch"] for r in meta["history"]] == [0, 1]
    assert all(numpy.isfinite(w).all() for w in weights.values())
    assert json.load(open(tmp_path / "summary.json"))["status"] == "diverged"
    assert not os.path.exists(tmp_path / ".lock")


def test_measurements_run_at_chosen_epochs(tmp_path):
    seen = []

    def norm(model, data, epoch):
        seen.append(epoch)
        return {"w0": float(numpy.linalg.norm(model.hidden[0].weight.numpy()))}
    train(config(epochs=3), str(tmp_path), measurements=[EpochHook("norm", norm, epochs={0, 2})])
    rows = metrics(tmp_path)
    assert seen == [0, 2]
    assert "norm/w0" in rows[0] and "norm/w0" not in rows[1] and "norm/w0" in rows[2]


def nap(seconds):
    """A measurement that takes `seconds` (and measures nothing)."""
    def fn(model, data, epoch):
        time.sleep(seconds)
        return {"slept": seconds}
    return fn


def test_the_summary_records_training_and_measuring_apart(tmp_path):
    summary = train(config(epochs=3), str(tmp_path), measurements=[EpochHook("nap", nap(0.05), epochs={1, 3})])
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    measuring = load_checkpoint(os.path.join(tmp_path, "checkpoint.npz"))[2]["seconds_measuring"]
    assert len(measuring) == 4 and measuring[1] >= 0.05 and measuring[3] >= 0.05
    assert measuring[0] < 0.05 and measuring[2] < 0.05                 # nothing due: next to nothing
    assert all(0 <= m <= r["seconds"] for m, r in zip(measuring, rows))
    assert summary["seconds_measuring"] == pytest.approx(sum(measuring))
    assert summary["seconds_training"] == pytest.approx(sum(r["seconds"] for r in rows) - sum(measuring))
    assert summary["seconds_training"] + summary["seconds_measuring"] == pytest.approx(summary["seconds_total"])
    assert "seconds_not_split" not in summary and json.load(open(tmp_path / "summary.json")) == summary
    # the metrics rows and config.json (a run's identity) are what they were: no timing but `seconds`
    assert set(rows[1]) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "nap/slept"}
    assert set(json.load(open(tmp_path / "config.json"))) == {f.name for f in fields(TrainConfig)} | {"data_info"}


def test_a_run_continued_from_before_the_split_says_what_it_cannot_split(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path), progress=StopAt(epoch=3, step=1))
    path = os.path.join(tmp_path, "checkpoint.npz")
    weights, optimizer, meta = load_checkpoint(path)
    del meta["seconds_measuring"]                        # epochs 0-2 as an older version saved them
    save_checkpoint(path, weights, optimizer, meta)
    summary = train(config(), str(tmp_path), resume=True, measurements=[EpochHook("nap", nap(0.02))])
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    measuring = load_checkpoint(path)[2]["seconds_measuring"]
    assert measuring[:3] == [None] * 3 and all(m >= 0.02 for m in measuring[3:]) and len(measuring) == 5
    assert summary["seconds_not_split"] == pytest.approx(sum(r["seconds"] for r in rows[:3]))
    assert summary["seconds_measuring"] == pytest.approx(sum(measuring[3:]))
    assert summary["seconds_training"] + summary["seconds_measuring"] + summary["seconds_not_split"] == \
        pytest.approx(summary["seconds_total"])


def test_penalty_is_part_of_the_training_loss(tmp_path):
    plain = config(model={"arch": "mlp", "skip": "plain", "depth": 3, "width": 8}, epochs=1)
    reg = config(model={"arch": "mlp", "skip": "plain", "depth": 3, "width": 8, "bias_reg": [2.0, 0.0],
                        "bias_lambda": 0.5}, epochs=1)
    train(plain, str(tmp_path / "plain"))
    train(reg, str(tmp_path / "reg"))
    # same initial weights; the regularized run's epoch-1 loss carries the penalty 0.5·Σ(b - 2)² > 0
    assert metrics(tmp_path / "reg")[1]["train_loss"] > metrics(tmp_path / "plain")[1]["train_loss"] + 1.0


def test_conv_net_trains_on_images(tmp_path):
    conv = config(model={"arch": "conv", "skip": "residual", "blocks": 1, "widths": [4, 8, 8]},
                  data=dict(SMALL_DATA, flatten=False), epochs=1)
    train(conv, str(tmp_path))
    assert len(metrics(tmp_path)) == 2


# --- the run folder: one writer, refusals, damaged files ------------------------------------

def dead_pid():
    """The pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(run_dir, pid, host=None, process_start=None):
    os.makedirs(run_dir, exist_ok=True)
    owner = {"host": host or socket.gethostname(), "pid": pid, "started": "2024-01-01T00:00:00+00:00"}
    if process_start is not None:
        owner["process_start"] = process_start
    with open(os.path.join(run_dir, ".lock"), "w") as f:
        json.dump(owner, f)


def snapshot(run_dir):
    """{file name: bytes} of a folder."""
    return {name: (run_dir / name).read_bytes() for name in sorted(os.listdir(run_dir))}


def test_a_live_lock_refuses_a_second_writer_and_touches_nothing(tmp_path):
    write_lock(tmp_path / "fresh", os.getpid())                      # this process: alive
    with pytest.raises(RunLocked, match=rf"being written by pid {os.getpid()} on {socket.gethostname()} "
                                        r"\(started 2024-01-01.*wait for it to finish or stop that process"):
        train(config(), str(tmp_path / "fresh"))
    assert os.listdir(tmp_path / "fresh") == [".lock"]

    train(config(epochs=2), str(tmp_path / "run"))
    write_lock(tmp_path / "run", dead_pid(), host="another-host")    # another host: never taken over
    before = snapshot(tmp_path / "run")
    with pytest.raises(RunLocked, match="on another-host"):
        train(config(epochs=4), str(tmp_path / "run"), resume=True)
    assert snapshot(tmp_path / "run") == before                      # lock, config, metrics, checkpoint as they were


def test_a_dead_owners_lock_is_taken_over_with_a_warning(tmp_path):
    pid = dead_pid()
    write_lock(tmp_path / "a", pid)
    with pytest.warns(RunWarning, match=rf"took over the stale lock .*pid {pid} .* is gone"):
        train(config(), str(tmp_path / "a"))
    train(config(), str(tmp_path / "b"))
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert not os.path.exists(tmp_path / "a" / ".lock")

    os.makedirs(tmp_path / "c")
    (tmp_path / "c" / ".lock").write_text('{"host": "x", "pi')          # cut off: unreadable
    with pytest.warns(RunWarning, match="took over the unreadable lock file"):
        train(config(epochs=1), str(tmp_path / "c"))
    assert not os.path.exists(tmp_path / "c" / ".lock")


@pytest.mark.skipif(not os.path.exists("/proc/1/stat"), reason="needs /proc to read a process's start time")
def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path):
    """pid 1 is alive in every container: a lock it wrote in an earlier one records another start time."""
    write_lock(tmp_path / "a", 1, process_start=_process_start(1) + 12345)
    wait_unlocked(str(tmp_path / "a"), poll=0.01, timeout=5)            # stale: no wait
    with pytest.warns(RunWarning, match=r"took over the stale lock .*pid 1 .* is gone \(pid 1 now belongs to"):
        train(config(epochs=1), str(tmp_path / "a"))
    assert not os.path.exists(tmp_path / "a" / ".lock")
    spy = LockSeen(tmp_path / "b")
    train(config(epochs=1), str(tmp_path / "b"), progress=spy)
    assert spy.seen[0]["process_start"] == _process_start(os.getpid())  # a run records its own


def test_waiting_for_a_live_lock_is_said_once_and_bounded(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path / "a", owner.pid, process_start=_process_start(owner.pid))
        with pytest.raises(RunLocked, match="being written by"):
            train(config(epochs=1), str(tmp_path / "a"))
        with pytest.warns(RunWarning) as said, pytest.raises(
                RunLocked, match=rf"^gave up waiting for \S+ after 0.3 s: pid {owner.pid} .* still holds its lock; "
                                 r"if no process is writing it, delete \S+\.lock and try again$"):
            wait_unlocked(str(tmp_path / "a"), poll=0.01, timeout=0.3)
        assert [str(w.message) for w in said] == [
            f"waiting for {tmp_path / 'a'}: pid {owner.pid} on {socket.gethostname()} (started 2024-01-01T00:00:00"
            f"+00:00) is writing it; giving up after 0.3 s (if no process is writing it, delete "
            f"{tmp_path / 'a' / '.lock'})"]
    finally:
        owner.kill()
        owner.wait()
    wait_unlocked(str(tmp_path / "a"), poll=0.01, timeout=5)            # its owner is gone: no wait


class LockSeen(Progress):
    """Records the folder's lock file as the run sees it after each epoch."""

    def __init__(self, run_dir):
        self.path, self.seen = os.path.join(run_dir, ".lock"), []

    def epoch(self, row):
        self.seen.append(json.load(open(self.path)))


def test_the_lock_is_held_while_training_and_released_however_train_ends(tmp_path):
    spy = LockSeen(tmp_path / "done")
    train(config(epochs=1), str(tmp_path / "done"), progress=spy)
    assert [(s["pid"], s["host"]) for s in spy.seen] == [(os.getpid(), socket.gethostname())] * 2
    assert ".lock" not in os.listdir(tmp_path / "done")
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path / "cut"), progress=StopAt(epoch=2, step=1))
    assert ".lock" not in os.listdir(tmp_path / "cut")
    with pytest.raises(RunError, match="already holds a run"):
        train(config(), str(tmp_path / "cut"))
    assert ".lock" not in os.listdir(tmp_path / "cut")
    train(config(), str(tmp_path / "cut"), resume=True)                 # no lock left to refuse it


WRITER = """
import os, sys, time
from models.training import RunLocked, TrainConfig, train
go, ready, run_dir = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
config = TrainConfig(model={"arch": "mlp", "skip": "residual", "depth": 4, "width": 64}, epochs=EPOCHS,
                     data={"name": "synthetic", "synthetic_size": [3000, 300], "synthetic_classes": 5},
                     batch_size=64, lr=1e-3, seed=3)
try:
    train(config, run_dir)
except RunLocked as e:
    print(e)
    sys.exit(3)
"""


def test_two_processes_on_one_folder_one_trains_the_other_is_refused(tmp_path):
    """Both start training at the same moment (a file releases them); the run takes seconds, so they overlap."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, OPENBLAS_NUM_THREADS="1")
    go, run_dir, epochs = tmp_path / "go", tmp_path / "run", 12
    children = [subprocess.Popen([sys.executable, "-c", WRITER.replace("EPOCHS", str(epochs)), str(go),
                                  str(tmp_path / f"ready{i}"), str(run_dir)], cwd=root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    deadline = time.monotonic() + 60
    while not all(os.path.exists(tmp_path / f"ready{i}") for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [child.communicate(timeout=120)[0] for child in children]
    codes = [child.returncode for child in children]
    assert sorted(codes) == [0, 3], outputs
    assert "is being written by pid" in outputs[codes.index(3)]
    assert [r["epoch"] for r in read_jsonl(run_dir / "metrics.jsonl")] == list(range(epochs + 1))
    assert not os.path.exists(run_dir / ".lock")


def test_a_folder_that_holds_no_run_is_refused(tmp_path):
    os.makedirs(tmp_path / "notes")
    (tmp_path / "notes" / "todo.txt").write_text("mine\n")
    with pytest.raises(RunError, match=r"notes is not empty and holds no run: choose a new or empty --out"):
        train(config(), str(tmp_path / "notes"))
    assert os.listdir(tmp_path / "notes") == ["todo.txt"]

    write_lock(tmp_path / "stale", dead_pid())                         # only a stale lock: fine
    with pytest.warns(RunWarning):
        train(config(epochs=1), str(tmp_path / "stale"))

    def stop(model, data, epoch):                                       # cut off before epoch 0 is saved
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path / "early"), measurements=[EpochHook("stop", stop, epochs={0})])
    assert sorted(os.listdir(tmp_path / "early")) == ["config.json", "metrics.jsonl"]
    train(config(), str(tmp_path / "early"))                            # what it left is a run to start again
    train(config(), str(tmp_path / "whole"))
    assert metrics(tmp_path / "early") == metrics(tmp_path / "whole")


def test_a_refused_start_makes_no_folder(tmp_path):
    """The folders that exist are checked, and the data loaded, before the lock makes the others."""
    from models.data import DataError
    train(config(epochs=1), str(tmp_path / "s3"))
    seeds = [config(seed=s) for s in (3, 4, 5)]
    with pytest.raises(RunError, match="s3 already holds a run"):
        train_ensemble(seeds, [tmp_path / f"s{s}" for s in (3, 4, 5)])
    with pytest.raises(DataError):
        train(config(data={"name": "cifar10", "download": False}), str(tmp_path / "no-data"))
    assert os.listdir(tmp_path) == ["s3"]


def test_resume_removes_temporary_files_left_by_a_killed_write(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path), progress=StopAt(epoch=2, step=1))
    (tmp_path / ".tmp-abc.npz").write_bytes(b"half a checkpoint")
    train(config(), str(tmp_path), resume=True)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "config.json", "metrics.jsonl", "summary.json"]


def test_resuming_to_fewer_epochs_than_done_is_refused(tmp_path):
    train(config(epochs=4), str(tmp_path))
    before = snapshot(tmp_path)
    with pytest.raises(RunError, match=rf"the run in {tmp_path} has done 4 epochs; resume it with --epochs 4 or more"):
        train(config(epochs=2), str(tmp_path), resume=True)
    assert snapshot(tmp_path) == before
    summary = train(config(epochs=4), str(tmp_path), resume=True)      # as many as done: nothing to do
    assert snapshot(tmp_path) == before
    assert summary["epochs"] == 4 == metrics(tmp_path)[-1]["epoch"]


def damage(kind, path):
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif kind == "random":
        path.write_bytes(numpy.random.default_rng(0).bytes(len(data)))
    elif kind == "other arrays":                                        # a good npz, but not a checkpoint
        with open(path, "wb") as f:
            numpy.savez(f, weights=numpy.zeros(3))


@pytest.mark.parametrize("kind", ["truncated", "random", "other arrays"])
def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path, kind):
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path), progress=StopAt(epoch=2, step=1))
    damage(kind, tmp_path / "checkpoint.npz")
    message = rf"checkpoint.npz in {tmp_path} is damaged .*restore the file, or start the run again in a new folder"
    with pytest.raises(RunError, match=message):
        train(config(), str(tmp_path), resume=True)
    with pytest.raises(RunError, match=message):
        load_run(str(tmp_path))
    assert not os.path.exists(tmp_path / ".lock")


def test_a_damaged_config_is_named_with_what_to_do(tmp_path):
    with pytest.raises(RunError, match=rf"{tmp_path} is not a run folder: it has no config.json"):
        read_config(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path), progress=StopAt(epoch=2, step=1))
    assert read_config(str(tmp_path)) == config()
    text = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(text[:len(text) // 2])
    message = rf"config.json in {tmp_path} is damaged \(.*\): restore it, or start the run again in a new folder"
    for attempt in (lambda: train(config(), str(tmp_path), resume=True), lambda: load_run(str(tmp_path)),
                    lambda: read_config(str(tmp_path))):
        with pytest.raises(RunError, match=message):
            attempt()
    (tmp_path / "config.json").write_text(json.dumps(dict(json.loads(text), colour="red")))
    with pytest.raises(RunError, match=r"another version \(unknown settings: colour\)"):
        read_config(str(tmp_path))


def test_a_damaged_jsonl_line_is_named(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"epoch": 0}\n\n{"epoch": 1}\n{"epo\n')
    with pytest.raises(ValueError, match=r"m.jsonl, line 4, is not valid JSON"):
        read_jsonl(tmp_path / "m.jsonl")
    (tmp_path / "m.jsonl").write_bytes(b'{"epoch": 0}\n\xff\xfe\n')
    with pytest.raises(ValueError, match=r"m.jsonl, line 2,"):
        read_jsonl(tmp_path / "m.jsonl")


# --- the command line -------------------------------------------------------------------
