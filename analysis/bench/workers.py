"""W5: processes x BLAS threads, side by side. How many nets an hour does each layout of this machine's cores train?

`reproduce --workers auto` picks one process per core with one BLAS thread each (the rule and its basis:
analysis/reproduction/sweep.py, auto_workers). Single-process timings cannot settle it, since processes running
together slow each other (memory bandwidth, the shared cache); this times it. For each layout (P processes of T
BLAS threads, P x T = the cores), P fresh processes each build W4's seed ensemble (analysis/bench/ensemble.py:
`members` nets of 30 x 128, `images` synthetic images, batch 500, Adam), take a warm-up of a few steps, wait for
each other, and then train `epochs` epochs at the same time. A layout's throughput is its P x members x epochs
net-epochs over the wall time from that common start until the last process ends.

Run (idle machine): python cli.py bench --workload workers --members 10 --images 2000 --repeats 3
"""
import multiprocessing
import os
import time

from ..reproduction.sweep import BLAS, auto_workers, spawned_with


def layouts(cores):
    """(processes, threads) for each way of splitting `cores` into processes of equal whole thread counts."""
    return [(p, cores // p) for p in range(1, cores + 1) if cores % p == 0]


def _worker(skip, members, images, epochs, ready, results):
    """One process of a layout: its ensemble, a warm-up, the common start, then `epochs` epochs timed."""
    import minigrad as mg
    from minigrad.allocator import tune_allocator
    from . import ensemble
    tune_allocator()
    cpu = mg.get_device("cpu")
    data = tuple(mg.to_device(a, cpu) for a in ensemble.synthetic_images(images))
    epoch = ensemble.minigrad_epoch(list(range(members)), skip, data, cpu)
    epoch(0, steps=ensemble.WARMUP_STEPS)
    ready.wait()
    for number in range(1, epochs + 1):
        epoch(number)
    results.put(time.time())


def time_layout(processes, threads, skip="plain", members=10, images=2000, epochs=3):
    """Wall seconds from the common start until the last of `processes` processes of `threads` BLAS threads each
    has trained its `epochs` epochs."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(processes + 1), context.Queue()
    with spawned_with({name: str(threads) for name in BLAS}):       # read by each fresh process's BLAS
        workers = [context.Process(target=_worker, args=(skip, members, images, epochs, ready, results))
                   for _ in range(processes)]
        for worker in workers:
            worker.start()
    ready.wait()
    began = time.time()
    ends = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise RuntimeError(f"a W5 process ended with exit status {worker.exitcode}")
    return max(ends) - began


def run(members=10, images=2000, epochs=3, skip="plain", cores=None, progress=None):
    """W5 for every layout of `cores` (default: this machine's): {"cores", "auto": the rule's (processes, threads),
    "layouts": [{"processes", "threads", "seconds", "net_epochs_per_hour"}, ...], ...}."""
    cores = cores or os.cpu_count() or 1
    result = {"cores": cores, "auto": list(auto_workers(cores)), "members": members, "images": images,
              "epochs": epochs, "skip": skip, "layouts": []}
    for processes, threads in layouts(cores):
        if progress:
            progress(f"W5 {processes} x {threads}")
        seconds = time_layout(processes, threads, skip, members, images, epochs)
        result["layouts"].append({"processes": processes, "threads": threads, "seconds": seconds,
                                  "net_epochs_per_hour": processes * members * epochs * 3600 / seconds})
    return result


def tables(result, *_):
    """W5's table: (title, columns, rows) of strings, each layout's throughput against one process's."""
    one = result["layouts"][0]["net_epochs_per_hour"]
    auto = tuple(result["auto"])
    rows = [(f"{r['processes']} x {r['threads']}" + (" (auto)" if (r["processes"], r["threads"]) == auto else ""),
             f"{r['seconds']:.3g}", f"{r['net_epochs_per_hour']:.4g}", f"{r['net_epochs_per_hour'] / one:.2f}")
            for r in result["layouts"]]
    return [(f"W5: processes x BLAS threads on {result['cores']} cores, each process an ensemble of "
             f"{result['members']} {result['skip']} nets, {result['epochs']} epochs of {result['images']:,} images",
             ("processes x threads", "wall s", "net-epochs / hour", f"vs 1 x {result['cores']}"), rows)]

