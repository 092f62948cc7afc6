"""Runs on a Dask cluster: `reproduce --cluster local:N` (an embedded one) or `--scheduler ADDRESS`.

Each ensemble of runs (a single run with --ensemble off) is one task, runner.run_group, and
its outcome is its run folders: the client gets back only (name, status, seconds, message). So every worker must write the results
folder (a shared file system) and import this checkout (start it there, or with the
checkout on PYTHONPATH). A worker that dies mid-run has its task rerun by the scheduler
(up to its allowed-failures setting, 3 by default); the rerun resumes from the run's last
checkpoint, taking over the dead worker's lock when it was on the same host (lock.py).

Dask is imported here only, and only on these paths (pip install -e ".[cluster]").
"""
import contextlib
import os
import uuid

from models.training import Progress

from .runner import run_group

CONNECT_TIMEOUT = 5       # seconds a scheduler has to answer
DASHBOARD = "127.0.0.1:8787"   # an embedded cluster listens on this machine only (another port if taken)
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except ValueError as e:                     # not an address: no port, unknown scheme
            raise ClusterError(f"{address} is not a Dask scheduler address ({e}); "
                               "write it as tcp://HOST:PORT") from None
        except (OSError, TimeoutError):
            raise ClusterError(f"no Dask scheduler answers at {address} (waited {CONNECT_TIMEOUT} s): check the "
                               "address, and that the scheduler runs and can be reached from here") from None
        with client:
            yield client
        return
    cluster = _local_cluster(distributed, workers, device)
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def dashboard(client):
    """The link to the cluster's dashboard, or None."""
    try:
        return client.dashboard_link or None
    except (KeyError, AttributeError):
        return None


def _local_cluster(distributed, workers, device):
    """N worker processes of one thread each; on CUDA, one GPU each."""
    if device == "cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            return gpu_cluster(distributed, workers, _visible_gpus())
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=DASHBOARD)
    threads = str(max(1, (os.cpu_count() or 1) // workers))      # the cores shared out, as --workers does
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=DASHBOARD, env={name: threads for name in BLAS_THREADS})


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


def run_all(client, groups, root, data_root=None, device="cpu", listener=None, stop_at=None):
    """Run each group of runs (an ensemble, runner.ensembles) as one task on `client`'s cluster; yields each
    task's list of (name, status, seconds, message) as it ends. stop_at: as runner.run_group's."""
    distributed = _distributed()
    root = os.path.abspath(root)                   # the workers' working folders may differ from ours
    data_root = data_root and os.path.abspath(data_root)
    topic = f"runs-started-{uuid.uuid4().hex}"     # this sweep's events only
    if listener is not None:
        client.subscribe_topic(topic, lambda event: listener.started(event[1]))
    futures = {}
    for group in groups:                           # the key: the first run's name, and which submission it was
        names = [spec.name for spec in group]
        future = client.submit(run_group, group, root, data_root, device, _Started(topic, names), stop_at=stop_at,
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
