"""Engine speed on the workloads of issue 2, next to PyTorch eager where PyTorch is installed.

Network: fully connected ReLU, 3072 inputs, 30 hidden layers of 128, 20 classes,
plain and identity-residual (models/mlp.py), synthetic data of CIFAR shape.

    W1  one Adam training step (forward, backward, update) at batch 500, float32
    W2  one gradient, and one exact Hessian-vector product, on a fixed batch of
        1,024 samples, in float64 and float32. An HVP here is the whole matvec
        from scratch (forward, backward, and the second-order part), which is
        what every Lanczos or moment iteration pays.

Times are medians over repeats after a warm-up, in milliseconds, on whatever
this machine is; the GEMM rate of the same machine is printed for context.
Run: python cli.py bench  (or python -m benchmarks.engine)
"""
import json
import os
import platform
import statistics
import tempfile
import time

import numpy

import minigrad as mg
from minigrad import functional as F
from minigrad.backend import tune_allocator
from models import MLP

INPUTS, WIDTH, DEPTH, CLASSES = 3072, 128, 30, 20
BATCH_TRAIN, BATCH_HVP = 500, 1024


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def gemm_rate(dtype, repeats):
    """GFLOP/s of this machine's NumPy GEMM at the first layer's shape (1024 x 3072 x 128)."""
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((BATCH_HVP, INPUTS)).astype(dtype)
    b = rng.standard_normal((INPUTS, WIDTH)).astype(dtype)
    ms = median_ms(lambda: a @ b, repeats)
    return 2 * BATCH_HVP * INPUTS * WIDTH / (ms * 1e-3) / 1e9


def synthetic(batch, dtype, seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((batch, INPUTS)).astype(dtype)
    y = rng.integers(0, CLASSES, batch)
    return x, y


def minigrad_workloads(skip, repeats, device="cpu"):
    """{workload name: median ms} for minigrad."""
    out = {}
    model = MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=numpy.float32).to(device)
    x, y = synthetic(BATCH_TRAIN, numpy.float32, 1)
    x, y = mg.to_device(x, device), mg.to_device(y, device)
    opt = mg.optim.Adam(model.parameters(), lr=5e-4)

    def train_step():
        loss = F.cross_entropy(model(mg.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out["W1 Adam step b500 fp32"] = median_ms(train_step, repeats)

    for dtype, tag in ((numpy.float64, "fp64"), (numpy.float32, "fp32")):
        model = MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=dtype).to(device)
        params = model.parameters()
        xh, yh = synthetic(BATCH_HVP, dtype, 2)
        xh, yh = mg.Tensor(mg.to_device(xh, device)), mg.to_device(yh, device)
        vs = [mg.to_device(numpy.random.default_rng(3).standard_normal(p.shape).astype(dtype), device) for p in params]

        def loss_fn():
            return F.cross_entropy(model(xh), yh)
        out[f"W2 gradient b1024 {tag}"] = median_ms(lambda: mg.grad(loss_fn(), params), repeats)
        for method in mg.hvp_methods:
            out[f"W2 HVP {method} b1024 {tag}"] = median_ms(lambda: mg.hvp(loss_fn, params, vs, method), repeats)
    return out


def torch_workloads(skip, repeats):
    """The same workloads in PyTorch eager (CPU), from the same initial weights; None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    out = {}

    def build(dtype):
        state = MLP(INPUTS, WIDTH, DEPTH, CLASSES, skip=skip, rng=0, dtype=dtype).state_dict()
        layers = [torch.nn.Linear(a, b) for a, b in zip([INPUTS] + [WIDTH] * DEPTH, [WIDTH] * DEPTH)]
        head = torch.nn.Linear(WIDTH, CLASSES)
        for i, layer in enumerate(layers + [head]):
            prefix = f"hidden.{i}." if i < DEPTH else "output."
            layer.weight.data = torch.from_numpy(state[prefix + "weight"].copy())
            layer.bias.data = torch.from_numpy(state[prefix + "bias"].copy())
        params = [p for layer in layers + [head] for p in layer.parameters()]

        def forward(x):
            for l, layer in enumerate(layers):
                h = torch.relu(layer(x))
                x = h + x if skip == "residual" and l > 0 else h
            return head(x)
        return forward, params

    forward, params = build(numpy.float32)
    x, y = (torch.from_numpy(a) for a in synthetic(BATCH_TRAIN, numpy.float32, 1))
    opt = torch.optim.Adam(params, lr=5e-4)

    def train_step():
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out["W1 Adam step b500 fp32"] = median_ms(train_step, repeats)

    for dtype, tag in ((numpy.float64, "fp64"), (numpy.float32, "fp32")):
        forward, params = build(dtype)
        x, y = (torch.from_numpy(a) for a in synthetic(BATCH_HVP, dtype, 2))
        vs = [torch.from_numpy(numpy.random.default_rng(3).standard_normal(tuple(p.shape)).astype(dtype))
              for p in params]

        def gradient():
            return torch.autograd.grad(torch.nn.functional.cross_entropy(forward(x), y), params)

        def double_backward():
            g = torch.autograd.grad(torch.nn.functional.cross_entropy(forward(x), y), params, create_graph=True)
            return torch.autograd.grad(g, params, vs)
        out[f"W2 gradient b1024 {tag}"] = median_ms(gradient, repeats)
        out[f"W2 HVP double-backward b1024 {tag}"] = median_ms(double_backward, repeats)
    out["version"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    return out


def write_json(path, payload):
    """Write atomically: a crash never leaves a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def run(repeats=10, skips=("plain", "residual"), torch=True, device="cpu", progress=None):
    tune_allocator()
    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpus": os.cpu_count(), "numpy": numpy.__version__,
                          "gemm_gflops_fp32": gemm_rate(numpy.float32, repeats),
                          "gemm_gflops_fp64": gemm_rate(numpy.float64, repeats)},
              "device": device, "repeats": repeats, "minigrad": {}, "torch": {}}
    for skip in skips:
        if progress:
            progress(f"minigrad {skip}")
        result["minigrad"][skip] = minigrad_workloads(skip, repeats, device)
        if torch:
            if progress:
                progress(f"PyTorch {skip}")
            result["torch"][skip] = torch_workloads(skip, repeats)
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


if __name__ == "__main__":
    from benchmarks.commands import bench
    bench()
