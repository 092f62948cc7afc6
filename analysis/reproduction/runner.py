"""Carry out runs: skip the finished, resume the interrupted, spread the rest over processes.

Each run lives in <root>/runs/<stem>-<hash>/ (a models.training.train folder). Its state is
read from the folder, so an interrupted reproduction simply starts again:
summary.json says finished (or diverged) -> done; a checkpoint -> resume; nothing
-> start. A run that fails for a reason other than divergence (missing data, say)
is reported with its one-line reason and the other runs go on.

One process trains a run at a time (the folder's lock, models/training/lock.py); another
that needs the same run waits for it, so two reproductions on one folder both finish with
every run trained once. A run whose trainer died is taken over when the lock is from this
host; a lock left by a dead process on another host (a cluster worker) must be deleted by
hand, and until then the run waits.

Where and how a sweep runs (its results folder, processes or cluster, data folder, device,
listener, ensembles, time limit) is one Sweep (sweep.py, with the folder states and run_group that
cluster.py shares), built once by `cli.py reproduce` and passed down.
Runs go to a Dask cluster when the Sweep has a client (cluster.py); else they train
here or in --workers processes. Local workers never outlive the reproduction: they end
when their parent dies (even by SIGKILL), and Ctrl-C or SIGTERM of the parent ends them
before it exits; a run cut short resumes from its last checkpoint next time.
"""
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from minigrad import device_kind
from models.training import Progress
from models.training.loop import METRICS

from .sweep import DONE, SUMMARY, blas_threads, run_dir, run_group, spawned_with, state

MISMATCH = "mismatched"       # the state of a done run whose files do not match its settings: never used


def verify(root, spec):
    """None when the done run in spec's folder is the run spec asks for; else one sentence saying what differs.

    A run folder travels between machines and can be edited, so before a done run enters a figure its
    config.json must equal the settings its name's hash stands for, and its metrics must hold each epoch
    0..E exactly once (E: the epochs asked for, or the last good epoch of a diverged run)."""
    from models.training.loop import CONFIG
    folder = run_dir(root, spec)
    try:
        with open(os.path.join(folder, CONFIG)) as f:
            saved = json.load(f)
        with open(os.path.join(folder, SUMMARY)) as f:
            summary = json.load(f)
        epochs = [row.get("epoch") for row in read_metrics(os.path.join(folder, METRICS))]
        if not isinstance(saved, dict) or not isinstance(summary, dict):
            raise ValueError("a file is not a JSON object")
    except (OSError, ValueError) as e:
        return _set_aside(folder, f"a file cannot be read ({e})")
    asked = spec.identity()["config"]
    found = {k: v for k, v in saved.items() if k not in ("device", "data_info")}
    if isinstance(found.get("data"), dict):
        found["data"] = {k: v for k, v in found["data"].items() if k != "root"}
    found = json.loads(json.dumps(found, sort_keys=True, default=str))
    asked = json.loads(json.dumps(asked, sort_keys=True, default=str))
    differs = sorted(set(asked) | set(found), key=str)
    differs = [k for k in differs if asked.get(k) != found.get(k)]
    if differs:
        return _set_aside(folder, "its config.json differs in " + ", ".join(
            f"{k} ({_short(found.get(k))} there, {_short(asked.get(k))} asked)" for k in differs[:3]))
    last = spec.config.epochs if summary.get("status") == "finished" else summary.get("last_good_epoch")
    if summary.get("status") == "finished" and summary.get("epochs") != spec.config.epochs:
        return _set_aside(folder, f"its summary.json records {summary.get('epochs')} epochs, not the "
                                  f"{spec.config.epochs} asked")
    if not isinstance(last, int) or epochs != list(range(last + 1)):
        return _set_aside(folder, f"its {METRICS} does not hold each epoch 0..{last} once")
    return None


def _short(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _set_aside(folder, what):
    return (f"{os.path.basename(folder)} is not the run its name stands for: {what}; it is not used and nothing in it is changed. "
            f"Move it aside (mv {folder} {folder}.set-aside) or delete it, and the same command trains it again")


def ensembles(specs, size):
    """The runs to train together: runs that differ only in their seed, in groups of at most `size`
    (1: each run alone). Curves take turns: every curve's first group comes before any curve's second,
    so a sweep cut short (--stop-after) leaves each curve with about as many seeds."""
    curves = {}
    for spec in specs:
        identity = spec.identity()
        identity["config"]["seed"] = None
        curves.setdefault(json.dumps(identity, sort_keys=True, default=str), []).append(spec)
    chunks = [[runs[i:i + size] for i in range(0, len(runs), size)] for runs in curves.values()]
    return [groups[k] for k in range(max(map(len, chunks), default=0)) for groups in chunks if k < len(groups)]


def ensemble_setting(text):
    """--ensemble's text as a setting: 'auto', 'off' or a whole number >= 1 (ValueError for anything else)."""
    if text in ("auto", "off"):
        return text
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"choose auto, off or a whole number of runs >= 1; got {text!r}")
    return size


def ensemble_size(setting, device):
    """The largest ensemble --ensemble allows: 'off' is 1, N is N; 'auto' is 50 on the GPU, which one net leaves
    idle, and 10 on the CPU, where members measured a few percent faster per net than single runs (docs/guide.md)."""
    if setting == "off":
        return 1
    if setting == "auto":
        return 50 if device_kind(device) == "cuda" else 10      # cuda:0 too: the kind, not the spelling
    return int(setting)


class Listener:
    """What `execute` reports; the CLI draws it, tests ignore it."""

    def begin(self, total, done):
        pass

    def run_progress(self, spec):
        """A training.Progress for a run done in this process (None: no per-epoch reports)."""
        return None

    def started(self, name):
        """A run began training on a cluster worker (called from the client's thread)."""

    def finished(self, name, status, seconds, message):
        pass


LATER = "left to a later stage of the plan"


def execute(specs, sweep, trained=None):
    """Make sure every run in `specs` is done, as `sweep` says where and how; returns {name: (status, message)}.

    trained: the names of the runs to train (None: all); the others are only read, with the message LATER.

    sweep.ensemble: the most runs (differing only in their seed) to train together as one ensemble.
    sweep.client: a distributed.Client; each ensemble not done yet becomes one task on its cluster.
    sweep.stop_at: a time.time() after which no epoch of any run begins (run_group).
    """
    root, workers, listener = sweep.root, sweep.workers, sweep.listener or Listener()
    unique = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    results = {name: (state(root, s), "") for name, s in unique.items()}
    wrong = {name: verify(root, spec) for name, spec in unique.items() if results[name][0] in DONE}
    wrong = {name: message for name, message in wrong.items() if message}
    todo = [s for s in unique.values() if results[s.name][0] not in DONE and s.name not in wrong]
    if trained is not None:
        results.update((s.name, (results[s.name][0], LATER)) for s in todo if s.name not in trained)
        todo = [s for s in todo if s.name in trained]
        unique = {name: s for name, s in unique.items() if name in trained or name in wrong or
                  results[name][0] in DONE}
    listener.begin(len(unique), len(unique) - len(todo) - len(wrong))
    for name, message in wrong.items():
        results[name] = (MISMATCH, message)
        listener.finished(name, MISMATCH, 0.0, message)
    groups = ensembles(todo, sweep.ensemble)

    def report(outcomes):
        for name, status, seconds, message in outcomes:
            results[name] = (status, message)
            listener.finished(name, status, seconds, message)

    if sweep.client is not None:
        from .cluster import run_all           # Dask is imported only on this path
        for outcomes in run_all(groups, dataclasses.replace(sweep, listener=listener)):
            report(outcomes)
        return results
    if workers <= 1 or len(groups) <= 1:
        for group in groups:
            report(run_group(group, sweep, listener.run_progress(group[0]) or Progress()))
        return results
    import multiprocessing
    with spawned_with(blas_threads(workers)), _sigterm_raises(), ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
            initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(run_group, group, sweep.detached()) for group in groups]
        try:
            for future in as_completed(futures):
                report(future.result())
        except BaseException:      # Ctrl-C, SIGTERM, a failing listener: don't wait for the other runs
            _stop_workers(pool, futures)
            raise
    return results


class Terminated(KeyboardInterrupt):
    """SIGTERM of a reproduction with workers: stops it as Ctrl-C does (the CLI exits non-zero)."""


class _sigterm_raises:
    """While in effect, SIGTERM raises Terminated in the main thread, so that the workers are ended first."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():   # only the main thread may set handlers
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise Terminated()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _stop_workers(pool, futures):
    """Cancel the runs not started and end the workers now (each run cut short resumes from its checkpoint)."""
    for future in futures:
        future.cancel()
    if hasattr(pool, "terminate_workers"):              # Python 3.14+
        pool.terminate_workers()
        return
    for process in list((pool._processes or {}).values()):    # no public handle before 3.14
        process.terminate()


def _worker_start(parent):
    """Pool initializer: the worker ends at once when `parent` (the reproduction) is gone, however it died.

    Otherwise a killed reproduction leaves its workers finishing their runs and then hanging, while a
    rerun may write the same run folders. Ctrl-C is left to the parent, which ends the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:   # the kernel kills us with the parent (prctl PR_SET_PDEATHSIG = 1); the thread below is the fallback
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:      # once the parent is gone, we are someone else's child
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def metrics(root, spec):
    """The metrics rows of a run (empty when it never started); ValueError naming the file when one is damaged."""
    path = os.path.join(run_dir(root, spec), METRICS)
    return read_metrics(path) if os.path.exists(path) else []


def read_metrics(path):
    """The rows of a metrics.jsonl, each what the aggregation reads: a JSON object whose values are numbers,
    nulls or lists of them. A row that is not is a damaged file: ValueError naming the file and the row."""
    from models.files import read_jsonl
    rows = read_jsonl(path)
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or isinstance(row.get("epoch"), bool) or not isinstance(row.get("epoch"), int):
            raise ValueError(f"{path}, row {number}, is not a JSON object with an integer epoch")
        bad = next((key for key, value in row.items() if not _metric(value)), None)
        if bad is not None:
            raise ValueError(f"{path}, row {number}, holds {bad} = {_short(row[bad])}, not a number")
    return rows


def _metric(value):
    if isinstance(value, list):
        return all(map(_metric, value))
    if isinstance(value, int):                   # bools too; beyond a float's range is no measured number
        return abs(value) < 2 ** 1023
    return value is None or (isinstance(value, float) and math.isfinite(value))


def set_aside(root, spec, why):
    """The MISMATCH message of a done run whose files cannot be used (`why`: what is wrong with them)."""
    return _set_aside(run_dir(root, spec), why)
