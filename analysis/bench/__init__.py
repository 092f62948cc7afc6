"""Engine speed against PyTorch (`python cli.py bench --workload engine|ensemble|lanczos|all`).

    engine.py    W1 (an Adam step) and W2 (a gradient and an exact HVP)
    ensemble.py  W4: a training epoch of a seed ensemble against a single net's, and the GEMM floor
    lanczos.py   100 float64 Lanczos steps with full reorthogonalization on the paper's big net
    workers.py   W5: every layout of processes x BLAS threads on this machine's cores, side by side

Each module's `run` returns the JSON the CLI writes and its `tables(result, ...)` the tables it prints, as
(title, columns, rows) of strings: the CLI only draws them. `workloads` says which run and where
each writes, `run` runs one with the options of `bench`, BENCH_OPTIONS: those options, as plain data
(models.options.Option) the CLI builds its click options from.
"""
import os

from models.options import DEVICE, Option

OUTPUTS = {"engine": "engine.json", "ensemble": "ensemble.json", "lanczos": "lanczos.json",
           "workers": "workers.json"}   # default file names
ALL = ("engine", "ensemble")                # what --workload all runs

BENCH_OPTIONS = (
    Option("--workload", "engine", "engine: W1 and W2; ensemble: W4, one training epoch of a seed ensemble against "
           "a single net's; lanczos: 100 float64 Lanczos steps on the paper's big net; workers: W5, W4's ensemble "
           "in every layout of processes x BLAS threads side by side (--repeats epochs); all: engine and ensemble.",
           choices=(*OUTPUTS, "all")),
    Option("--repeats", 10, "Timed repeats per workload (the median is reported); W4 times this many epochs.",
           minimum=1),
    DEVICE,
    Option("--torch/--no-torch", True, "Also time PyTorch eager on the same workloads and device, when it is "
           "installed.", name="with_torch"),
    Option("--skip", ("plain", "residual"), "Networks to time.", choices=("plain", "residual"), name="skips",
           multiple=True),
    Option("--members", 50, "W4: nets in the ensemble.", minimum=2),
    Option("--images", 100_000, "W4: synthetic training images per epoch (a CPU try: --members 4 --images 2000).",
           minimum=1),
    Option("--steps", 100, "lanczos: Lanczos steps (HVPs).", minimum=1),
    Option("--samples", 1024, "lanczos: synthetic samples in the Hessian (its probe: seed 0).", minimum=1),
    Option("--out", None, "Where to write the numbers (JSON; default results/bench/<workload>.json). With "
           "--workload all, W4's go to ensemble.json in the same folder.", path="file"),
)


def torch_reference(with_torch, timed):
    """What a bench table's title says of its PyTorch columns when they are blank: why, and how to fill them."""
    if timed:
        return ""
    if not with_torch:
        return "; PyTorch not timed (--no-torch)"
    return "; PyTorch is not installed (python -m pip install torch to time it too): minigrad alone"


def number(value, spec):
    """A table cell: `value` formatted by `spec`, blank for None."""
    return "" if value is None else format(value, spec)


def workloads(workload, out=None):
    """[(workload, JSON path)] of `bench --workload`: `all` is ALL; the first goes to `out` (default
    results/bench/<its file>), the others of `all` to their own file names next to it."""
    out = out or os.path.join("results", "bench", OUTPUTS.get(workload, "engine.json"))
    names = ALL if workload == "all" else (workload,)
    return [(name, out if name == workload or name == "engine" else os.path.join(os.path.dirname(out), OUTPUTS[name]))
            for name in names]


def run(name, options, progress=None):
    """The result (the JSON written) of the workload `name` under bench's parsed `options` (repeats, skips,
    with_torch, device, members, images, steps, samples); progress(what) is told what is timed next."""
    from . import engine, ensemble, lanczos, workers
    o = options
    if name == "workers":
        return workers.run(o["members"], o["images"], o["repeats"], progress=progress)
    if name == "engine":
        return engine.run(o["repeats"], o["skips"], o["with_torch"], o["device"], progress=progress)
    if name == "ensemble":
        return ensemble.run(o["members"], o["images"], o["repeats"], o["skips"], o["with_torch"], o["device"],
                            progress=progress)
    return lanczos.run(o["steps"], o["samples"], 0, o["with_torch"], o["device"], progress=progress)


def tables(name, result, options):
    """The tables, (title, columns, rows) of strings, of a result of the workload `name` (its module's tables)."""
    import importlib
    module = importlib.import_module(f"{__name__}.{name}")
    return module.tables(result, options["device"], options["repeats"], options["with_torch"])
