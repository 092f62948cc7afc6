"""`--workers auto`: the rule that picks processes x BLAS threads for a machine's cores (sweep.auto_workers)."""
import os
import subprocess
import sys

import pytest

from analysis.reproduction.sweep import BLAS, auto_workers, blas_threads, describe_workers, spawned_with


@pytest.mark.parametrize("cores, runs, chosen", [
    (1, None, (1, 1)),
    (2, None, (2, 1)),            # the 2-core machine: two processes of one thread, not one of two
    (16, None, (16, 1)),
    (16, 3, (3, 5)),              # fewer runs than cores: no idle process, the cores shared as whole threads
    (2, 1, (1, 2)),
    (4, 0, (1, 4)),               # nothing (known) to train still gets one process
])
def test_on_the_cpu_one_process_per_core_each_with_one_blas_thread(cores, runs, chosen):
    processes, threads = auto_workers(cores, "cpu", runs)
    assert (processes, threads) == chosen
    assert processes * threads <= cores and threads >= 1


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_on_cuda_one_process_drives_the_gpu(device):
    assert auto_workers(8, device) == (1, 8)
    assert "one process to drive the GPU" in describe_workers(1, 8, 8, device)


def test_this_machines_cores_by_default_and_the_workers_environment_agrees(monkeypatch):
    for cores in (1, 2, 6, 64):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        processes, threads = auto_workers()
        assert (processes, threads) == (cores, 1)
        assert blas_threads(processes) == {name: str(threads) for name in BLAS}
    monkeypatch.setattr("os.cpu_count", lambda: None)           # unknown: one core
    assert auto_workers() == (1, 1)


def test_it_says_what_it_chose():
    assert describe_workers(2, 1, 2) == ("--workers auto: 2 processes x 1 BLAS thread on 2 cores (one process per "
                                         "core, one BLAS thread each; the rule: analysis/reproduction/sweep.py "
                                         "auto_workers)")
    assert describe_workers(3, 5, 16).startswith("--workers auto: 3 processes x 5 BLAS threads on 16 cores")


def test_workers_setting_reads_auto_or_a_whole_number_and_refuses_the_rest():
    from analysis.reproduction.sweep import workers_setting
    assert workers_setting("auto") == "auto" and workers_setting(" AUTO ") == "auto"
    assert workers_setting("3") == 3 and workers_setting(1) == 1
    for bad in ("0", "-1", "1.5", "two", ""):
        with pytest.raises(ValueError, match="auto or a whole number"):
            workers_setting(bad)


def test_processes_started_inside_see_the_threads_and_the_environment_is_put_back_after(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with spawned_with({"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}):
        seen = subprocess.run([sys.executable, "-c", "import os; print(os.environ['OPENBLAS_NUM_THREADS'], "
                               "os.environ['MKL_NUM_THREADS'])"], capture_output=True, text=True, check=True)
    assert seen.stdout.split() == ["1", "1"]
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def test_the_environment_is_put_back_when_starting_fails(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with pytest.raises(RuntimeError):
        with spawned_with({"OMP_NUM_THREADS": "3"}):
            raise RuntimeError("a worker failed to start")
    assert "OMP_NUM_THREADS" not in os.environ
