"""Where and how a sweep runs, the state of a run's folder, and one ensemble of runs trained to completion.

runner.py (execute: every run of a figure, here or in --workers processes) and cluster.py (the same on a Dask
cluster) both build on this module, and this one imports neither: a worker process of either imports only
this to carry out its task, run_group.
"""
import contextlib
import dataclasses
import json
import os
import time

from models.training import Diverged, RunError, RunLocked, run_lock, train_ensemble, wait_unlocked
from models.training.loop import CHECKPOINT, SUMMARY

from ..measurement_plan import measurements

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


BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads(workers):
    """{BLAS variable: threads} for each of `workers` processes sharing this machine's cores (at least one each):
    the environment of --workers processes and of an embedded cluster's workers alike."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return {name: threads for name in BLAS}


@contextlib.contextmanager
def spawned_with(variables):
    """While in effect, processes started now see `variables` ({name: value}) in their environment, as a fresh
    process's BLAS reads its thread count at start; this process's environment is put back as it was after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def workers_setting(text):
    """--workers as given: 'auto' (auto_workers decides) or a whole number of processes, at least 1."""
    text = str(text).strip().lower()
    if text == "auto":
        return "auto"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"choose auto or a whole number of at least 1, not {text!r}")
    return int(text)


def auto_workers(cores=None, device="cpu", runs=None):
    """`--workers auto`: (processes, BLAS threads per process) for a machine of `cores` cores (None: this one's).

    The rule: on the cpu, one process per core, each with one BLAS thread (processes before threads); never more
    processes than `runs` (the ensembles to train, when known), the cores left over going to each process's BLAS
    as whole threads. On cuda, one process: the GPU does the products, and processes would only share it.

    Its basis, measured on a 2-core machine (W4 of analysis/bench/ensemble.py): one process took 0.495 s per net
    at 1 BLAS thread and 0.316 s at 2, so a second thread gives one process 1.57x, short of the 2x a second
    process gives if the two do not slow each other: the products of a 128-wide net at batch 500 are too small
    for BLAS threads to share well. Two processes do slow each other (memory bandwidth, the shared cache), which
    single-process times cannot show, so the 2x is a bound, not a measurement: `python cli.py bench --workload
    workers` times the layouts running side by side (nets per hour), the check to run on an idle machine before
    trusting the rule there. The threads are what blas_threads(processes) gives (cores // processes), so the
    rule and the workers' environment agree.
    """
    cores = max(1, cores or os.cpu_count() or 1)
    if _on_cuda(device):
        return 1, cores
    processes = cores if runs is None else max(1, min(cores, runs))
    return processes, cores // processes


def describe_workers(processes, threads, cores=None, device="cpu"):
    """The sentence `--workers auto` says of what it chose (auto_workers' answer)."""
    cores = max(1, cores or os.cpu_count() or 1)
    why = ("one process to drive the GPU" if _on_cuda(device) else "one process per core, one BLAS thread each"
           if processes == cores else f"one process per run to train, the {cores} cores shared among them")
    return (f"--workers auto: {processes} {'process' if processes == 1 else 'processes'} x {threads} BLAS "
            f"{'thread' if threads == 1 else 'threads'} on {cores} {'core' if cores == 1 else 'cores'} ({why}; "
            f"the rule: analysis/reproduction/sweep.py auto_workers)")


def chosen_runners(workers, cluster, scheduler, scheduler_from_environment, device="cpu", say=print):
    """(workers, scheduler) of reproduce's --workers, --cluster and --scheduler: --workers auto is 1 beside a
    cluster or scheduler, else auto_workers' choice (said); a scheduler that came from the environment yields
    (None) to a --cluster or --workers given."""
    if workers == "auto" and (cluster is not None or scheduler is not None):
        workers = 1
    elif workers == "auto":
        workers, threads = auto_workers(device=device)
        say(describe_workers(workers, threads, device=device))
    if scheduler is not None and scheduler_from_environment and (cluster is not None or workers > 1):
        scheduler = None
    return workers, scheduler


def _on_cuda(device):
    """True for 'cuda', 'cuda:N' or a cuda Device."""
    return str(getattr(device, "name", device)).split(":")[0] == "cuda"


def _dataset(config):
    from models.data import load
    import numpy
    key = json.dumps([config.data, config.dtype], sort_keys=True, default=str)
    if key not in _CACHE:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load(**config.data, dtype=numpy.dtype(config.dtype), progress=False)
    return _CACHE[key]


STOPPED = "stopped at the time limit (--stop-after); the same command continues it"


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Where and how the runs of a reproduction are carried out: built once (cli.py reproduce) and passed down
    to reproduce, execute, run_group and cluster.run_all; worker processes get it detached().

    root       the results folder; runs live in <root>/runs/
    workers    processes to spread the runs over (1: this one)
    data_root  the data folder (None: the default, models.data)
    device     where the runs train
    listener   what is told of the runs as they go (a Listener; None: nobody)
    client     a distributed.Client: the runs go to its cluster (cluster.py) instead of `workers`
    ensemble   the most runs (differing only in their seed) to train together as one ensemble
    stop_at    a time.time() after which no training epoch begins (None: no limit); on a cluster, its
               workers' clocks are trusted to agree with ours
    """
    root: object
    workers: int = 1
    data_root: object = None
    device: str = "cpu"
    listener: object = None
    client: object = None
    ensemble: int = 1
    stop_at: object = None

    def detached(self, **changes):
        """This sweep as another process carries out its runs: without the listener and client, which stay here."""
        return dataclasses.replace(self, listener=None, client=None, **changes)


def run_group(specs, sweep, progress=None, poll=1.0):
    """Train runs that differ only in their seed to completion, as one ensemble (resuming what can be resumed),
    under `sweep`'s root, data folder, device and time limit; returns one (name, status, seconds, message)
    per run.

    sweep.stop_at: a time.time() after which no epoch begins (train_ensemble); runs stopped by it keep their
    state ('new' or 'partial') with the message STOPPED.

    A run another process is training (its folder locked) is waited for, its state read again
    every `poll` seconds until the lock is released or its owner is gone: then it is done, or
    this process resumes it. States are read again under the locks, so no run is trained twice.
    """
    import contextlib
    import warnings
    root, stop_at = sweep.root, sweep.stop_at
    began = time.perf_counter()
    results = {spec.name: (state(root, spec), "") for spec in specs}
    todo = [spec for spec in specs if results[spec.name][0] not in DONE]
    if not todo or (stop_at is not None and time.time() >= stop_at):
        return [(spec.name, results[spec.name][0], 0.0, "" if spec not in todo else STOPPED) for spec in specs]
    configs = [dataclasses.replace(spec.config, device=sweep.device,
                                   data=dict(spec.config.data, root=sweep.data_root)) for spec in todo]
    folders = [run_dir(root, spec) for spec in todo]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not the official.*")   # rebuilt tarballs: said once in the report
            data = _dataset(configs[0])
        while True:
            try:
                with contextlib.ExitStack() as locks:   # held from reading the states to the end of training
                    for folder in folders:
                        locks.enter_context(run_lock(folder))
                    states = [state(root, spec) for spec in todo]
                    left = [i for i, status in enumerate(states) if status not in DONE]
                    for i, status in enumerate(states):
                        results[todo[i].name] = (status, "")
                    if left:
                        outcomes = train_ensemble([configs[i] for i in left], [folders[i] for i in left],
                                                  resume=[states[i] == "partial" for i in left],
                                                  measurements=measurements(todo[0].plan), progress=progress, data=data,
                                                  stop_at=stop_at)
                        for i, outcome in zip(left, outcomes):
                            results[todo[i].name] = (("diverged", str(outcome)) if isinstance(outcome, Diverged) else
                                                     (state(root, todo[i]), STOPPED) if outcome is None else
                                                     ("finished", ""))
                break
            except RunLocked as e:
                wait_unlocked(e.run_dir, poll)
    except Exception as e:   # runs that cannot be done (no data, bad setting) must not stop the others
        from models.data import DataError
        from models.files import WriteError
        message = (str(e) if isinstance(e, (DataError, RunError, ValueError, WriteError))
                   else f"{type(e).__name__}: {e}")
        results.update((spec.name, ("failed", message)) for spec in todo
                       if results[spec.name][0] not in DONE)
    seconds = (time.perf_counter() - began) / len(todo)
    trained = {spec.name for spec in todo}
    return [(spec.name, results[spec.name][0], seconds if spec.name in trained else 0.0, results[spec.name][1])
            for spec in specs]
