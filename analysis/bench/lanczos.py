"""100 Lanczos steps on the paper's big net, minigrad against PyTorch, same weights, same probe.

Net: residual ReLU MLP, 3072 inputs, 30 hidden layers of 128, 20 classes (874,772
parameters), float64, Glorot weights of seed 0; the Hessian of the mean
cross-entropy on 1,024 synthetic samples of CIFAR shape (one batch). One
Rademacher probe, 100 steps of float64 Lanczos with full reorthogonalization (CGS2
against the stored basis), i.e. 100 HVPs plus the basis algebra:

    minigrad  analysis.spectra.lanczos on analysis.spectra.HessianOperator (forward-over-reverse HVP)
    PyTorch   the same recurrence in torch tensors; HVP by double backward,
              autograd.grad(autograd.grad(loss, params, create_graph=True), params, v)

Each HVP is computed from scratch in both (forward, backward, second-order pass),
as every Lanczos step pays. minigrad runs first, then PyTorch, one after the
other on the same machine; one warm-up HVP each is not timed. The two α sequences
are compared as a check that both computed the same thing. Writes JSON atomically.

    python cli.py bench --workload lanczos [--steps 100] [--samples 1024] [--out results/bench/lanczos.json]
"""
import importlib.util
import os
import platform
import time

import numpy

import minigrad as mg
from analysis.spectra.hessian import HessianOperator
from analysis.spectra.lanczos import gauss_quadrature, lanczos
from analysis.spectra.slq import rademacher
from minigrad.allocator import tune_allocator
from . import engine
from models import MLP, data


def problem(samples):
    model = MLP(engine.INPUTS, engine.WIDTH, engine.DEPTH, engine.CLASSES, skip="residual", rng=0, dtype="float64")
    ds = data.load("synthetic", synthetic_size=(samples, 10), synthetic_classes=engine.CLASSES, mirror=False,
                   dtype=numpy.float64, progress=False)
    return model, ds.train_x[:samples], ds.train_y[:samples]


class Timed:
    """A matvec that adds up the time spent inside it."""

    def __init__(self, matvec, sync=lambda: None):
        self.matvec, self.sync, self.seconds, self.calls = matvec, sync, 0.0, 0

    def __call__(self, v):
        start = time.perf_counter()
        out = self.matvec(v)
        self.sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def run_minigrad(model, x, y, start, steps, device="cpu"):
    model.to(device)                       # a name is resolved here, once; the operator carries the model's Device
    op = HessianOperator(model, x, y, batch_size=len(y))
    sync = op.device.synchronize
    v = mg.to_device(start, op.device)
    op.matvec(v)                                    # warm-up, untimed
    sync()
    matvec = Timed(op.matvec, sync)
    began = time.perf_counter()
    alphas, betas = lanczos(matvec, op.dim, v, steps)
    sync()
    total = time.perf_counter() - began
    return {"seconds": total, "hvp_seconds": matvec.seconds, "hvps": matvec.calls,
            "alphas": alphas, "betas": betas, "dim": op.dim, "operator": op.info(), "device": device}


def torch_lanczos(matvec, start, steps):
    """The same float64 recurrence as analysis.spectra.lanczos (three-term step, then CGS2 against the basis)."""
    import torch
    dim = start.numel()
    v = start / torch.linalg.vector_norm(start)
    basis = torch.zeros((steps, dim), dtype=torch.float64)
    alphas, betas, previous, beta = [], [], None, 0.0
    for j in range(steps):
        basis[j] = v
        w = matvec(v)
        alpha = float(v @ w)
        alphas.append(alpha)
        w = w - alpha * v
        if previous is not None:
            w = w - beta * previous
        done = basis[:j + 1]
        for _ in range(2):
            w = w - done.T @ (done @ w)
        if j == steps - 1:
            break
        beta = float(torch.linalg.vector_norm(w))
        betas.append(beta)
        previous, v = v, w / beta
    return numpy.array(alphas), numpy.array(betas)


def run_torch(state, x, y, start, steps):
    import torch
    torch.set_grad_enabled(True)
    forward, params = engine.torch_twin(state, "residual")
    sizes = [p.numel() for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(numpy.int64))

    def loss():
        return torch.nn.functional.cross_entropy(forward(xt), yt)

    def matvec(v):
        grads = torch.autograd.grad(loss(), params, create_graph=True)
        parts = [part.view_as(p) for part, p in zip(torch.split(v, sizes), params)]
        hv = torch.autograd.grad(grads, params, parts)
        return torch.cat([h.reshape(-1) for h in hv])

    v = torch.from_numpy(start.copy())
    matvec(v)                                       # warm-up, untimed
    timed = Timed(matvec)
    began = time.perf_counter()
    alphas, betas = torch_lanczos(timed, v, steps)
    total = time.perf_counter() - began
    return {"seconds": total, "hvp_seconds": timed.seconds, "hvps": timed.calls, "alphas": alphas, "betas": betas,
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def run(steps=100, samples=1024, seed=0, torch=True, device="cpu", progress=print):
    tune_allocator()
    model, x, y = problem(samples)
    state = model.state_dict()
    dim = sum(p.size for p in model.parameters())
    start = rademacher(numpy.random.default_rng(seed), dim)
    result = {"net": {"inputs": engine.INPUTS, "width": engine.WIDTH, "depth": engine.DEPTH,
                      "classes": engine.CLASSES, "skip": "residual",
                      "dtype": "float64", "parameters": dim},
              "samples": samples, "steps": steps, "probes": 1, "seed": seed, "reorthogonalize": True,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": numpy.__version__,
                          "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}}
    progress(f"minigrad: {steps} Lanczos steps on {dim:,} parameters, {samples} samples, float64 ({device})")
    result["minigrad"] = run_minigrad(model, x, y, start, steps, device)
    progress(f"  {result['minigrad']['seconds']:.1f} s ({result['minigrad']['hvp_seconds']:.1f} s in HVPs)")
    if torch:
        if importlib.util.find_spec("torch") is None:
            progress("PyTorch is not installed: no comparison")
        else:
            progress("PyTorch: the same computation (double-backward HVP, CPU)")
            result["torch"] = run_torch(state, x, y, start, steps)
            progress(f"  {result['torch']['seconds']:.1f} s ({result['torch']['hvp_seconds']:.1f} s in HVPs)")
            ours, theirs = result["minigrad"], result["torch"]
            n = min(len(ours["alphas"]), len(theirs["alphas"]))
            scale = numpy.max(numpy.abs(theirs["alphas"]))
            ritz_ours = gauss_quadrature(ours["alphas"], ours["betas"])[0]
            ritz_theirs = gauss_quadrature(theirs["alphas"], theirs["betas"])[0]
            result["agreement"] = {
                "max_alpha_difference_relative": float(numpy.max(numpy.abs(ours["alphas"][:n] - theirs["alphas"][:n])) / scale),
                "top_ritz": [float(ritz_ours[-1]), float(ritz_theirs[-1])],
                "bottom_ritz": [float(ritz_ours[0]), float(ritz_theirs[0])],
            }
            result["ratio_minigrad_over_torch"] = ours["seconds"] / theirs["seconds"]
    return result


def tables(result, device, repeats=None, with_torch=True):
    """The printed table of the Lanczos workload: (title, columns, rows) of strings (`repeats` is not used: one run)."""
    from . import number, torch_reference
    steps, rows = result["steps"], []
    for who, label in (("minigrad", f"minigrad ({device})"), ("torch", "PyTorch (cpu)")):
        if who in result:
            r = result[who]
            rows.append((label, f"{r['seconds']:.2f}", f"{r['hvp_seconds']:.2f}", str(r["hvps"]),
                         str(r.get("threads", ""))))
    agreement = result.get("agreement")
    tail = (f"; minigrad / PyTorch = {result['ratio_minigrad_over_torch']:.2f}, alphas agree to "
            f"{agreement['max_alpha_difference_relative']:.1e} (relative)" if agreement else "")
    return [(f"{steps} float64 Lanczos steps with full reorthogonalization on {result['net']['parameters']:,} "
             f"parameters, {result['samples']} samples" + tail + torch_reference(with_torch, "torch" in result),
             ("engine", "seconds", "in HVPs", "HVPs", "threads"), rows)]
