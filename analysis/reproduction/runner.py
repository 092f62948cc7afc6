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

Runs go to a Dask cluster when `execute` is given a client (cluster.py); else they train
here or in --workers processes. Local workers never outlive the reproduction: they end
when their parent dies (even by SIGKILL), and Ctrl-C or SIGTERM of the parent ends them
before it exits; a run cut short resumes from its last checkpoint next time.
"""
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from models.training import Diverged, Progress, RunError, RunLocked, run_lock, train, wait_unlocked
from models.training.loop import CHECKPOINT, METRICS, SUMMARY

from ..measurements import measurements

_CACHE = {}          # data sets loaded by this process: json(data config, dtype) -> Dataset
_CACHE_SIZE = 2


def run_dir(root, spec):
    return os.path.join(root, "runs", spec.name)


DONE = ("finished", "diverged")      # a run in either state is never trained again


def done_status(summary):
    """The status the bytes of a summary.json record when it is one of DONE; None otherwise (damaged too)."""
    try:
        status = json.loads(summary)
    except ValueError:
        return None
    status = status.get("status") if isinstance(status, dict) else None
    return status if status in DONE else None


def folder_state(folder):
    """'finished', 'diverged', 'partial' (a checkpoint to resume) or 'new'."""
    try:
        with open(os.path.join(folder, SUMMARY), "rb") as f:
            status = done_status(f.read())
    except OSError:
        status = None
    return status or ("partial" if os.path.exists(os.path.join(folder, CHECKPOINT)) else "new")


def state(root, spec):
    """The folder_state of a run of a reproduction."""
    return folder_state(run_dir(root, spec))


def _dataset(config):
    from models.data import load
    import numpy
    key = json.dumps([config.data, config.dtype], sort_keys=True, default=str)
    if key not in _CACHE:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load(**config.data, dtype=numpy.dtype(config.dtype), progress=False)
    return _CACHE[key]


def run_one(spec, root, data_root=None, device="cpu", progress=None, poll=1.0):
    """Train one run to completion (resuming if it can); returns (name, status, seconds, message).

    A run another process is training (its folder locked) is waited for, its state read again
    every `poll` seconds until the lock is released or its owner is gone: then it is done, or
    this process resumes it. The state is read again under the lock, so no run is trained twice.
    """
    import warnings
    began = time.perf_counter()
    status = state(root, spec)
    if status in DONE:
        return spec.name, status, 0.0, ""
    config = dataclasses.replace(spec.config, device=device, data=dict(spec.config.data, root=data_root))
    folder = run_dir(root, spec)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not the official.*")   # rebuilt tarballs: said once in the report
            data = _dataset(config)
        while True:
            try:
                with run_lock(folder):            # held from reading the state to the end of training
                    status = state(root, spec)
                    if status in DONE:
                        return spec.name, status, time.perf_counter() - began, ""
                    train(config, folder, resume=status == "partial", measurements=measurements(spec.plan),
                          progress=progress, data=data)
                return spec.name, "finished", time.perf_counter() - began, ""
            except RunLocked:
                wait_unlocked(folder, poll)
    except Diverged as e:
        return spec.name, "diverged", time.perf_counter() - began, str(e)
    except Exception as e:   # a run that cannot be done (no data, bad setting) must not stop the others
        from models.data import DataError
        message = str(e) if isinstance(e, (DataError, RunError, ValueError)) else f"{type(e).__name__}: {e}"
        return spec.name, "failed", time.perf_counter() - began, message


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


def execute(specs, root, workers=1, data_root=None, device="cpu", listener=None, client=None):
    """Make sure every run in `specs` is done; returns {name: (status, message)}.

    client: a distributed.Client; each run not done yet becomes one task on its cluster.
    """
    listener = listener or Listener()
    unique = {}
    for spec in specs:
        unique.setdefault(spec.name, spec)
    todo = [s for s in unique.values() if state(root, s) not in DONE]
    results = {name: (state(root, s), "") for name, s in unique.items()}
    listener.begin(len(unique), len(unique) - len(todo))
    if client is not None:
        from .cluster import run_all           # Dask is imported only on this path
        for name, status, seconds, message in run_all(client, todo, root, data_root, device, listener):
            results[name] = (status, message)
            listener.finished(name, status, seconds, message)
        return results
    if workers <= 1 or len(todo) <= 1:
        for spec in todo:
            name, status, seconds, message = run_one(spec, root, data_root, device,
                                                     listener.run_progress(spec) or Progress())
            results[name] = (status, message)
            listener.finished(name, status, seconds, message)
        return results
    import multiprocessing
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    saved = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: threads for k in saved})     # read by the fresh (spawned) workers' BLAS
    try:
        with _sigterm_raises(), ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                    initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(run_one, spec, root, data_root, device) for spec in todo]
            try:
                for future in as_completed(futures):
                    name, status, seconds, message = future.result()
                    results[name] = (status, message)
                    listener.finished(name, status, seconds, message)
            except BaseException:      # Ctrl-C, SIGTERM, a failing listener: don't wait for the other runs
                _stop_workers(pool, futures)
                raise
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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
    """The metrics rows of a run (empty when it never started)."""
    from models.files import read_jsonl
    path = os.path.join(run_dir(root, spec), METRICS)
    return read_jsonl(path) if os.path.exists(path) else []
