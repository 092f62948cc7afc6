"""Runs on a Dask cluster: `reproduce --cluster local:N` (an embedded one) or `--scheduler ADDRESS`.

Each ensemble of runs (a single run with --ensemble off) is one task, sweep.run_group, and
its outcome is its run folders: the client gets back only (name, status, seconds, message). So every worker must write the results
folder (a shared file system) and import this checkout (start it there, or with the
checkout on PYTHONPATH). A worker that dies mid-run has its task rerun by the scheduler
(up to its allowed-failures setting, 3 by default); the rerun resumes from the run's last
checkpoint, taking over the dead worker's lock when it was on the same host (lock.py).

Dask is imported here only, and only on these paths (pip install -e ".[cluster]").
"""
import asyncio
import contextlib
import os
import time
import uuid

from minigrad import device_kind
from models.training import Progress

from .sweep import blas_threads, run_group

CONNECT_TIMEOUT = 5       # seconds a scheduler has to accept and complete Dask's handshake
DASHBOARD = "127.0.0.1:8787"   # an embedded cluster listens on this machine only (another port if taken)


class ClusterError(RuntimeError):
    """A cluster that cannot be used as asked (one sentence for the user)."""


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError('--cluster and --scheduler need Dask\'s distributed package: '
                           'pip install -e ".[cluster]"') from None
    return distributed


def local_workers(text):
    """'local:N' -> N (ValueError for anything else)."""
    kind, _, count = text.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"expected local:N with N >= 1 worker processes, not {text!r}")
    return int(count)


@contextlib.contextmanager
def connect(workers=None, address=None, device="cpu"):
    """A distributed.Client on an embedded cluster of `workers` processes, or on the scheduler at `address`."""
    distributed = _distributed()
    if address is not None:
        began = time.monotonic()
        try:
            _handshake(distributed, address, CONNECT_TIMEOUT)
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except ValueError as e:                     # not an address: no port, unknown scheme
            raise ClusterError(f"{address} is not a Dask scheduler address ({e}); "
                               "write it as tcp://HOST:PORT") from None
        except (OSError, TimeoutError, asyncio.TimeoutError):
            raise ClusterError(f"no Dask scheduler answers at {address} (gave up after "
                               f"{time.monotonic() - began:.1f} s): check the address, and that the scheduler "
                               "runs and can be reached from here") from None
        with client:
            yield client
        return
    cluster = _local_cluster(distributed, workers, device)
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


@contextlib.contextmanager
def runs_client(workers=None, address=None, device="cpu"):
    """The client `reproduce` sends its runs to: connect(...) for --cluster local:N (`workers`) or --scheduler
    (`address`), None (and Dask not imported) for neither; a cluster that cannot be used is a ClusterError."""
    if workers is None and address is None:
        yield None
        return
    with connect(workers, address, device) as client:
        yield client


def _handshake(distributed, address, seconds):
    """Connect to `address` and finish Dask's handshake within `seconds` in all, then hang up: distributed.Client
    bounds only the TCP connect, so a listener that accepts but never speaks Dask would hold it until it hangs up."""
    async def greet():
        comm = await distributed.comm.connect(address, timeout=seconds)
        comm.abort()
    asyncio.run(asyncio.wait_for(greet(), seconds))


def dashboard(client):
    """The link to the cluster's dashboard, or None."""
    try:
        return client.dashboard_link or None
    except (KeyError, AttributeError):
        return None


def _local_cluster(distributed, workers, device):
    """N worker processes of one thread each; on CUDA, one GPU each."""
    if device_kind(device) == "cuda":            # cuda:0 too: the kind, not the spelling
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            return gpu_cluster(distributed, workers, _visible_gpus())
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=DASHBOARD)
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=DASHBOARD, env=blas_threads(workers))   # as --workers does


def gpu_cluster(distributed, workers, gpus):
    """Without dask-cuda: one worker process per GPU, each seeing only its own (CUDA_VISIBLE_DEVICES)."""
    if workers > len(gpus):
        raise ClusterError(f"--cluster local:{workers} with --device cuda needs {workers} GPUs, "
                           f"but {len(gpus)} are visible")
    specs = {f"gpu-{gpu}": {"cls": distributed.Nanny, "options": {"nthreads": 1, "host": "127.0.0.1",
                                                                   "env": {"CUDA_VISIBLE_DEVICES": gpu}}}
             for gpu in gpus[:workers]}
    scheduler = {"cls": distributed.Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": DASHBOARD}}
    return distributed.SpecCluster(workers=specs, scheduler=scheduler, name="gpus")


def _visible_gpus():
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip()]
    import cupy
    return [str(i) for i in range(cupy.cuda.runtime.getDeviceCount())]


class _Started(Progress):
    """Tells the client, as scheduler events, when the runs of a task begin training on a worker."""

    def __init__(self, topic, names):
        self.topic, self.names = topic, names

    def start(self, config, start_epoch, steps_per_epoch):
        from distributed import get_worker
        for name in self.names:
            get_worker().log_event(self.topic, name)


def run_all(groups, sweep):
    """Run each group of runs (an ensemble, runner.ensembles) as one task on the cluster of `sweep.client`
    (a sweep.Sweep); yields each task's list of (name, status, seconds, message) as it ends."""
    distributed = _distributed()
    client, listener = sweep.client, sweep.listener
    tasks = sweep.detached(root=os.path.abspath(sweep.root),     # the workers' working folders may differ from ours
                           data_root=sweep.data_root and os.path.abspath(sweep.data_root))
    topic = f"runs-started-{uuid.uuid4().hex}"     # this sweep's events only
    if listener is not None:
        client.subscribe_topic(topic, lambda event: listener.started(event[1]))
    futures = {}
    for group in groups:                           # the key: the first run's name, and which submission it was
        names = [spec.name for spec in group]
        future = client.submit(run_group, group, tasks, _Started(topic, names),
                               key=f"{names[0]}-{uuid.uuid4().hex[:8]}", pure=False)
        futures[future] = names
    try:
        for future in distributed.as_completed(list(futures)):
            try:
                result = future.result()
            except Exception as e:                 # the task itself failed: its worker died too often, say
                result = [(name, "failed", 0.0, f"{type(e).__name__}: {e}") for name in futures[future]]
            future.release()
            yield result
    except BaseException:                          # Ctrl-C: runs not started yet are dropped
        client.cancel(list(futures))
        raise
    finally:
        if listener is not None:
            client.unsubscribe_topic(topic)
