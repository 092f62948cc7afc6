"""Engine speed on two fixed workloads (W1, W2), next to PyTorch eager where PyTorch is installed.

Network: fully connected ReLU, 3072 inputs, 30 hidden layers of 128, 20 classes,
plain and identity-residual (models/mlp.py), synthetic data of CIFAR shape.

    W1  one Adam training step (forward, backward, update) at batch 500, float32
    W2  one gradient, and one exact Hessian-vector product, on a fixed batch of
        1,024 samples, in float64 and float32. An HVP here is the whole matvec
        from scratch (forward, backward, and the second-order part), which is
        what every Lanczos or moment iteration pays.

Times are medians over repeats after a warm-up, in milliseconds, on whatever
this machine is; the GEMM rate of the same machine is printed for context.
On a GPU both engines run on it, and every timed call starts and ends with the
device synchronized. Each workload is timed for minigrad and then PyTorch before the next one
starts, so slow drifts in machine speed hit both alike.
Run: python cli.py bench
"""
import os
import platform
import statistics
import time

import numpy

import minigrad as mg
from minigrad import functional as F
from minigrad.allocator import tune_allocator
from models import MLP

INPUTS, WIDTH, DEPTH, CLASSES = 3072, 128, 30, 20
BATCH_TRAIN, BATCH_HVP = 500, 1024


def gemm_rate(dtype, repeats):
    """GFLOP/s of this machine's NumPy GEMM at the first layer's shape (1024 x 3072 x 128)."""
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((BATCH_HVP, INPUTS)).astype(dtype)
    b = rng.standard_normal((INPUTS, WIDTH)).astype(dtype)
    ms = time_cases({"numpy": {"gemm": lambda: a @ b}}, repeats)["numpy"]["gemm"]
    return 2 * BATCH_HVP * INPUTS * WIDTH / (ms * 1e-3) / 1e9


def synthetic(batch, dtype, seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((batch, INPUTS)).astype(dtype)
    y = rng.integers(0, CLASSES, batch)
    return x, y


def minigrad_cases(skip, device="cpu"):
    """{workload name: a function running it once} for minigrad."""
    cases = {}
    model = MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=numpy.float32).to(device)
    x, y = (mg.to_device(a, device) for a in synthetic(BATCH_TRAIN, numpy.float32, 1))
    opt = mg.optim.Adam(model.parameters(), lr=5e-4)

    def train_step(model=model, x=mg.Tensor(x), y=y, opt=opt):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cases["W1 Adam step b500 fp32"] = train_step

    for dtype, tag in ((numpy.float64, "fp64"), (numpy.float32, "fp32")):
        model = MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=dtype).to(device)
        params = model.parameters()
        x, y = (mg.to_device(a, device) for a in synthetic(BATCH_HVP, dtype, 2))
        vs = [mg.to_device(a, device) for a in directions(params, dtype)]

        def loss_fn(model=model, x=mg.Tensor(x), y=y):
            return F.cross_entropy(model(x), y)
        cases[f"W2 gradient b1024 {tag}"] = lambda f=loss_fn, p=params: mg.grad(f(), p)
        for method in mg.hvp_methods:
            cases[f"W2 HVP {method} b1024 {tag}"] = lambda f=loss_fn, p=params, v=vs, m=method: mg.hvp(f, p, v, m)
    return cases


def directions(params, dtype):
    rng = numpy.random.default_rng(3)
    return [rng.standard_normal(tuple(p.shape)).astype(dtype) for p in params]


def torch_cases(skip, device="cpu"):
    """The same workloads in PyTorch eager on the same device, from the same initial weights; {} without PyTorch."""
    try:
        import torch
    except ImportError:
        return {}
    cases = {}

    def build(dtype):
        return torch_twin(MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=dtype).state_dict(), skip, device)

    forward, params = build(numpy.float32)
    x, y = (torch.from_numpy(a).to(device) for a in synthetic(BATCH_TRAIN, numpy.float32, 1))
    opt = torch.optim.Adam(params, lr=5e-4)

    def train_step(forward=forward, x=x, y=y, opt=opt):
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    cases["W1 Adam step b500 fp32"] = train_step

    for dtype, tag in ((numpy.float64, "fp64"), (numpy.float32, "fp32")):
        forward, params = build(dtype)
        x, y = (torch.from_numpy(a).to(device) for a in synthetic(BATCH_HVP, dtype, 2))
        vs = [torch.from_numpy(v).to(device) for v in directions(params, dtype)]

        def gradient(forward=forward, params=params, x=x, y=y):
            return torch.autograd.grad(torch.nn.functional.cross_entropy(forward(x), y), params)

        def double_backward(forward=forward, params=params, x=x, y=y, vs=vs):
            g = torch.autograd.grad(torch.nn.functional.cross_entropy(forward(x), y), params, create_graph=True)
            return torch.autograd.grad(g, params, vs)
        cases[f"W2 gradient b1024 {tag}"] = gradient
        cases[f"W2 HVP double-backward b1024 {tag}"] = double_backward
    return cases


def torch_twin(state, skip, device="cpu"):
    """(forward, params): the PyTorch net with the weights of a minigrad MLP state dict (models/mlp.py names)."""
    import torch
    layers = []
    for i in range(DEPTH + 1):
        prefix = f"hidden.{i}." if i < DEPTH else "output."
        weight, bias = (torch.from_numpy(state[prefix + name].copy()).to(device) for name in ("weight", "bias"))
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype, device=device)
        layer.weight.data, layer.bias.data = weight, bias
        layers.append(layer)
    params = [p for layer in layers for p in (layer.weight, layer.bias)]   # minigrad's parameter order

    def forward(x):
        for l, layer in enumerate(layers[:-1]):
            h = torch.relu(layer(x))
            x = h + x if skip == "residual" and l > 0 else h
        return layers[-1](x)
    return forward, params


def time_cases(groups, repeats, warmup=2, syncs=None):
    """Median ms of every case, one workload at a time, each engine timed in its own block.

    syncs: {engine: a function that waits for that engine's device} (a GPU runs asynchronously:
    each timed call starts and ends with the device idle); none on the CPU.

    Each workload is timed for every engine before the next workload starts, so a
    slow drift of machine speed hits all engines alike. Calls are not alternated one
    by one: OpenBLAS and PyTorch's OpenMP threads keep spinning after a call, and
    alternating them makes each wait for the other's threads on 2 cores.
    """
    names = list(dict.fromkeys(name for cases in groups.values() for name in cases))
    times = {who: {} for who in groups}
    for name in names:
        for who, cases in groups.items():
            if name in cases:
                sync = (syncs or {}).get(who, lambda: None)
                for _ in range(warmup):
                    cases[name]()
                samples = []
                for _ in range(repeats):
                    sync()
                    start = time.perf_counter()
                    cases[name]()
                    sync()
                    samples.append(time.perf_counter() - start)
                times[who][name] = 1e3 * statistics.median(samples)
    return times


def _torch_sync(device):
    """PyTorch's wait for its device (nothing to wait for on the CPU, or without PyTorch)."""
    try:
        import torch
    except ImportError:
        return lambda: None
    return torch.cuda.synchronize if mg.device_kind(device) == "cuda" else (lambda: None)


def run(repeats=10, skips=("plain", "residual"), torch=True, device="cpu", progress=None):
    tune_allocator()
    on = mg.get_device(device)             # minigrad's Device, resolved once; PyTorch and the record take the name
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": numpy.__version__,
                          "gemm_gflops_fp32": gemm_rate(numpy.float32, repeats),
                          "gemm_gflops_fp64": gemm_rate(numpy.float64, repeats)},
              "device": device, "repeats": repeats, "minigrad": {}, "torch": {}}
    for skip in skips:
        if progress:
            progress(skip)
        groups = {"minigrad": minigrad_cases(skip, on), "torch": torch_cases(skip, device) if torch else {}}
        timed = time_cases(groups, repeats, syncs={"minigrad": on.synchronize,
                                                   "torch": _torch_sync(device)})
        result["minigrad"][skip] = timed["minigrad"]
        result["torch"][skip] = timed["torch"]
    if torch and any(result["torch"].values()):
        import torch as _torch
        result["machine"].update(torch=_torch.__version__, torch_threads=_torch.get_num_threads())
    return result


def table_rows(result):
    """One dict per (net, workload): our time, PyTorch's, their ratio and HVP / gradient, for printing."""
    rows = []
    for net, ours in result["minigrad"].items():
        theirs = result["torch"].get(net) or {}
        rows += _rows(net, ours, theirs, "minigrad")
        rows += [dict(r, workload="PyTorch " + r["workload"]) for r in _rows(net, theirs, {}, "torch")
                 if "HVP" in r["workload"]]
    return rows


def _rows(net, times, reference, who):
    rows = []
    for name, ms in times.items():
        if not name.startswith("W"):
            continue
        dtype = name.split()[-1]
        gradient = times.get(f"W2 gradient b1024 {dtype}")
        twin = reference.get(name) or reference.get("W2 HVP double-backward b1024 " + dtype if "HVP" in name else "")
        rows.append({"net": net, "workload": name, "ms": ms, "torch_ms": twin,
                     "ratio": ms / twin if twin else None,
                     "hvp_over_grad": ms / gradient if "HVP" in name and gradient else None})
    return rows


def tables(result, device, repeats, with_torch):
    """The printed table of W1 and W2: (title, columns, rows) of strings."""
    from . import number, torch_reference
    machine = result["machine"]
    rows = [(r["net"], r["workload"], f"{r['ms']:.1f}", number(r["torch_ms"], ".1f"), number(r["ratio"], ".2f"),
             number(r["hvp_over_grad"], ".2f")) for r in table_rows(result)]
    return [(f"minigrad on {device} (median ms of {repeats}); NumPy GEMM "
             f"{machine['gemm_gflops_fp32']:.0f} GFLOP/s fp32, {machine['gemm_gflops_fp64']:.0f} fp64"
             + torch_reference(with_torch, any(result["torch"].values())),
             ("net", "workload", "minigrad ms", "PyTorch ms", "minigrad / PyTorch", "HVP / gradient"), rows)]
