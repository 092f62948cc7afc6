"""Runs on a Dask cluster, with real processes on 127.0.0.1: the same numbers as on one machine, a killed worker's
run resumed from its checkpoint, an absent scheduler in one sentence, two reproductions of one folder at once."""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from analysis.reproduction import runner
from analysis.reproduction.sweep import Sweep
from analysis.reproduction.spec import RunSpec
from cli import main
from models.training import TrainConfig

REPO = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")   # as Dask's workers
ENV.pop("DASK_SCHEDULER_ADDRESS", None)
FIG6 = ["reproduce", "fig6", "--preset", "test", "--workers", "1", "--out"]


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "cli.py", *map(str, args)], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def _numbers(root):
    """fig6's numbers.json without wall-clock times."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "training_seconds")}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip(json.loads((pathlib.Path(root) / "fig6" / "numbers.json").read_text()))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _strip(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def local_fig6(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    result = _cli(*FIG6, root)
    assert result.returncode == 0, result.stdout + result.stderr
    return _numbers(root)


@pytest.fixture(scope="module")
def scheduler():
    """A scheduler and two one-thread workers, each in its own process group; yields the scheduler's address."""
    distributed = pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m"]
    loopback = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]   # not 0.0.0.0
    commands = [dask + ["distributed.cli.dask_scheduler", "--port", address.rsplit(":", 1)[1], *loopback]]
    commands += [dask + ["distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1", *loopback]] * 2
    processes = []
    try:
        for command in commands:        # workers start in the checkout, so they import its code
            processes.append(subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)        # the process and the worker its nanny started
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


def test_an_embedded_cluster_gives_the_same_numbers(local_fig6, tmp_path):
    pytest.importorskip("distributed")
    result = _cli(*FIG6, tmp_path, "--cluster", "local:2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Dask cluster: 2 workers" in result.stdout and "run 10/10:" in result.stdout
    assert _numbers(tmp_path) == local_fig6


def test_a_scheduler_gives_the_same_numbers(local_fig6, scheduler, tmp_path):
    result = _cli(*FIG6, tmp_path, "--scheduler", scheduler)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _numbers(tmp_path) == local_fig6


def _long_runs(seeds, epochs=15):
    """Runs of a few seconds each: long enough to kill a worker in the middle of one."""
    return [RunSpec(TrainConfig(model={"arch": "mlp", "skip": "residual", "depth": 4, "width": 64}, epochs=epochs,
                                data={"name": "synthetic", "synthetic_size": [2000, 200], "synthetic_classes": 5},
                                batch_size=64, lr=1e-3, seed=seed), {"meters": {"samples": 40}}, "long")
            for seed in seeds]


def _mid_run(root, specs, pids, seconds=60):
    """(spec, pid of the worker training it, its metrics so far) once a run has a checkpoint and is not done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for spec in specs:
            folder = pathlib.Path(runner.run_dir(root, spec))
            try:
                owner = json.loads((folder / ".lock").read_text())
                rows = runner.metrics(root, spec)
            except (OSError, ValueError):
                continue                     # not started, or a file being written
            if owner["pid"] in pids and len(rows) >= 2 and not (folder / "summary.json").exists():
                return spec, owner["pid"], rows
        time.sleep(0.01)
    pytest.fail("no run was seen in the middle of its training")


def test_a_killed_workers_run_resumes_from_its_checkpoint(scheduler, tmp_path):
    import distributed
    specs, root = _long_runs([0, 1]), str(tmp_path / "cluster")
    results = {}
    with distributed.Client(scheduler, timeout=10) as client:
        pids = set(client.run(os.getpid).values())
        on_cluster = Sweep(root, client=client)
        sweep = threading.Thread(target=lambda: results.update(runner.execute(specs, on_cluster)), daemon=True)
        sweep.start()
        victim, pid, before = _mid_run(root, specs, pids)
        os.kill(pid, signal.SIGKILL)
        assert not os.path.exists(os.path.join(runner.run_dir(root, victim), "summary.json"))
        sweep.join(timeout=120)
        assert not sweep.is_alive()
    assert results == {spec.name: ("finished", "") for spec in specs}
    rows = runner.metrics(root, victim)
    assert [row["epoch"] for row in rows] == list(range(victim.config.epochs + 1))       # no epoch twice
    assert rows[:len(before)] == before          # the epochs before the kill kept, times and all: resumed
    runner.execute([victim], Sweep(str(tmp_path / "whole")))
    assert _strip(rows) == _strip(runner.metrics(str(tmp_path / "whole"), victim))


def test_a_scheduler_that_does_not_answer_is_one_sentence(tmp_path):
    pytest.importorskip("distributed")
    from analysis.reproduction.cluster import CONNECT_TIMEOUT
    result = _cli(*FIG6, tmp_path, "--scheduler", f"tcp://127.0.0.1:{_free_port()}", timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    said = re.search(r"Error: no Dask scheduler answers at tcp://127\.0\.0\.1:\d+ \(gave up after ([\d.]+) s\)",
                     result.stderr)
    # it waited the connect timeout, not Dask's own (30 s); the wall clock includes a loaded machine's start-up
    assert said and float(said.group(1)) <= CONNECT_TIMEOUT + 5, result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def silent_listener():
    """tcp://127.0.0.1:PORT of a socket that accepts connections and never writes (it hangs up after 10 s, or at
    the test's end): what a wrong port that some other server owns looks like to a Dask client."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    address, done, hang_up = f"tcp://127.0.0.1:{server.getsockname()[1]}", threading.Event(), time.monotonic() + 10

    def serve():
        held = []
        while not done.is_set() and time.monotonic() < hang_up:
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                pass
        for connection in held:
            connection.close()
        server.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield address
    done.set()
    thread.join()


def test_a_listener_that_never_speaks_dask_is_one_sentence_in_seconds(silent_listener, tmp_path, monkeypatch):
    """The connect timeout bounds the handshake too, and the sentence says how long it really waited."""
    pytest.importorskip("distributed")
    from analysis.reproduction import cluster
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    began = time.monotonic()
    result = CliRunner().invoke(main, [*FIG6, str(tmp_path), "--scheduler", silent_listener])
    elapsed = time.monotonic() - began
    assert elapsed < 5 and result.exit_code == 1 and "Traceback" not in result.output, result.output
    said = re.search(rf"Error: no Dask scheduler answers at {re.escape(silent_listener)} \(gave up after ([\d.]+) s\)",
                     result.output)
    assert said and 1 <= float(said.group(1)) <= elapsed, result.output
    assert not (tmp_path / "runs").exists()


COUNTED = """
import sys
from analysis.reproduction import sweep   # run_group, which trains, lives in sweep.py
train = sweep.train_ensemble

def counted(configs, folders, **kwargs):    # one line per training begun, in a file both processes append to
    with open(sys.argv[1], "a") as f:
        f.write("".join(folder + "\\n" for folder in folders))
    return train(configs, folders, **kwargs)

sweep.train_ensemble = counted
from cli import main
try:
    main(sys.argv[2:])
except SystemExit as e:
    print("dask imported" if "dask" in sys.modules else "no dask")
    sys.exit(e.code)
"""


def test_two_reproductions_of_one_folder_train_each_run_once(tmp_path):
    marks = tmp_path / "trained.txt"
    command = [sys.executable, "-c", COUNTED, str(marks), *FIG6, str(tmp_path / "out"), "--workers", "1"]
    children = [subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for _ in range(2)]
    try:
        outputs = [child.communicate(timeout=120)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [child.returncode for child in children] == [0, 0], outputs
    assert all("no dask" in output for output in outputs)          # Dask is not imported without a cluster
    trained = marks.read_text().split()
    runs = sorted((tmp_path / "out" / "runs").iterdir())
    assert len(runs) == 10 and sorted(trained) == sorted(map(str, runs))      # each run trained once
    for run in runs:
        assert [row["epoch"] for row in runner.metrics(str(tmp_path / "out"), _spec(run.name))] == [0, 1, 2]
        assert json.loads((run / "summary.json").read_text())["status"] == "finished"


def _spec(name):
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    return next(s for runs in FIGURES["fig6"].groups(presets.get("test")).values() for s in runs if s.name == name)


def test_cluster_options_are_checked(tmp_path, monkeypatch):
    for args, message in ((["--cluster", "local:2", "--workers", "2"], "choose one of --cluster, --scheduler"),
                          (["--cluster", "local:2", "--scheduler", "tcp://127.0.0.1:1"], "choose one of"),
                          (["--cluster", "remote:2"], "expected local:N with N >= 1")):
        result = CliRunner().invoke(main, [*FIG6, str(tmp_path), *args])
        assert result.exit_code == 2 and message in result.output, result.output
    monkeypatch.setitem(sys.modules, "distributed", None)          # as if Dask were not installed
    result = CliRunner().invoke(main, [*FIG6, str(tmp_path), "--cluster", "local:2"])
    assert result.exit_code == 1 and 'pip install -e ".[cluster]"' in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_an_embedded_cluster_for_cuda_0_has_gpu_workers(monkeypatch):
    """--device cuda:0 gets one worker per GPU, as --device cuda does, and cpu gets CPU workers: the decision reads
    the device's kind, not its spelling (shown without a GPU or Dask: the clusters are stand-ins)."""
    from analysis.reproduction import cluster
    monkeypatch.setitem(sys.modules, "dask_cuda", None)              # the fallback: one worker per listed GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    monkeypatch.setattr(cluster, "gpu_cluster", lambda distributed, workers, gpus: ("gpus", workers, gpus))

    class Distributed:
        LocalCluster = staticmethod(lambda **options: ("cpus", options["n_workers"]))
    assert [cluster._local_cluster(Distributed, 2, device) for device in ("cuda:0", "cuda", "cpu")] == \
        [("gpus", 2, ["4", "7"]), ("gpus", 2, ["4", "7"]), ("cpus", 2)]


def test_without_dask_cuda_each_gpu_worker_sees_its_own_gpu():
    """The --device cuda fallback, shown on CPU: one worker per listed GPU, CUDA_VISIBLE_DEVICES set for each."""
    distributed = pytest.importorskip("distributed")
    from analysis.reproduction.cluster import ClusterError, gpu_cluster
    with pytest.raises(ClusterError, match="needs 3 GPUs, but 2 are visible"):
        gpu_cluster(distributed, 3, ["4", "7"])
    with gpu_cluster(distributed, 2, ["4", "7"]) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=30)
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    assert sorted(seen.values()) == ["4", "7"]
