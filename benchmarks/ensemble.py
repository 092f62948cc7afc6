"""W4: one training epoch of a seed ensemble against one epoch of a single net, next to PyTorch.

The net is W1's (benchmarks/engine.py): fully connected ReLU, 3072 inputs, 30 hidden layers
of 128, 20 classes, plain and residual, on N synthetic images of CIFAR shape (float32). An
epoch visits the N images in batches of 500 with Adam (lr 5e-4), each of the S members in its
own seed's order, and minigrad steps them as models/training/loop.py does: the Stacked
ensemble of models/ensemble.py, `objective`'s per-member losses, losses.sum().backward(),
one Adam step. The single net is the same loop at S = 1 (the ensemble of one net).

PyTorch's ensemble does the same work per step: every weight stacked to (S, out, in), each
layer of all members one torch.baddbmm, cross-entropy averaged per member and summed over
members, Adam(foreach=True). Its single net is benchmarks.engine.torch_twin. Both engines
start from the same weights and see the same minibatches on the same device.

Does a member of an ensemble train faster than a net alone? The table answers with seconds
per epoch and per net-epoch (an ensemble's epoch / S). Times are medians over `repeats`
epochs after a warm-up of a few steps; each epoch starts and ends with the device
synchronized. minigrad's step does all the loop does: it sends the step's indices to the
device and reads the members' losses back (the divergence check), one synchronization per
step. PyTorch's step is the plain reference: its epoch order goes to the device once and
nothing is read back, so the comparison is, if anything, unfair to minigrad.
Run: python cli.py bench --workload ensemble [--members 50 --images 100000 --device cuda]
"""
import os
import platform
import statistics
import time

import numpy

import minigrad as mg
from benchmarks.allocator import tune_allocator
from benchmarks.engine import CLASSES, DEPTH, INPUTS, WIDTH, _torch_sync, torch_twin
from models import build, objective
from models.data import batches
from models.ensemble import ensemble

BATCH, LR, WARMUP_STEPS = 500, 5e-4, 3


def net_config(skip, seed):
    """The models.build dict of the benchmark's net."""
    return {"inputs": INPUTS, "width": WIDTH, "depth": DEPTH, "classes": CLASSES, "skip": skip, "seed": seed,
            "dtype": "float32"}


def synthetic_images(n, seed=0):
    """n flattened images of CIFAR shape (float32, standard normal) and their labels, on the host."""
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal((n, INPUTS), dtype=numpy.float32), rng.integers(0, CLASSES, n)


def epoch_order(seeds, n, epoch):
    """(S, n) indices on the host: row s is member s's order in `epoch`, drawn as the training loop draws it."""
    return numpy.stack([numpy.concatenate(list(batches(n, BATCH, numpy.random.default_rng([seed, 1, epoch]))))
                        for seed in seeds])


def _steps(step, order, steps=None):
    """Run `step` on each minibatch (S, B) of an epoch's order, or on its first `steps` ones."""
    for start in list(range(0, order.shape[1], BATCH))[:steps]:
        step(order[:, start:start + BATCH])


def minigrad_epoch(seeds, skip, data, device):
    """epoch(number, steps=None): one epoch of the nets of `seeds` in minigrad, stepped as the training loop does."""
    model = ensemble([net_config(skip, seed) for seed in seeds], device)
    optimizer = mg.optim.Adam(model.parameters(), lr=LR)
    x, y = data

    def step(index):
        index = mg.to_device(index, device)
        losses = objective(model, mg.Tensor(x[index]), y[index])
        if not numpy.isfinite(mg.to_host(losses.data)).all():
            raise FloatingPointError("W4 diverged")
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()

    def epoch(number, steps=None):
        _steps(step, epoch_order(seeds, len(y), number), steps)
    return epoch


def stacked_twin(states, skip, device="cpu"):
    """(forward, params): PyTorch's ensemble of minigrad MLP state dicts, each array stacked on a member axis.

    forward takes x (S, B, inputs) and returns logits (S, B, classes); weights are (S, out, in),
    biases (S, 1, out), in minigrad's parameter order.
    """
    import torch
    depth = sum(name.startswith("hidden.") and name.endswith(".weight") for name in states[0])

    def stacked(name):
        arrays = [state[name].reshape(1, -1) if state[name].ndim == 1 else state[name] for state in states]
        return torch.from_numpy(numpy.stack(arrays)).to(device).requires_grad_()
    prefixes = [f"hidden.{i}." for i in range(depth)] + ["output."]
    weights, biases = [stacked(p + "weight") for p in prefixes], [stacked(p + "bias") for p in prefixes]

    def forward(x):
        for l in range(depth):
            h = torch.relu(torch.baddbmm(biases[l], x, weights[l].transpose(1, 2)))
            x = h + x if skip == "residual" and l > 0 else h
        return torch.baddbmm(biases[-1], x, weights[-1].transpose(1, 2))
    return forward, [p for pair in zip(weights, biases) for p in pair]


def torch_epoch(seeds, skip, data, device):
    """epoch(number, steps=None): the same epoch in PyTorch, from the same weights (stacked for S > 1)."""
    import torch
    states = [build(net_config(skip, seed)).state_dict() for seed in seeds]
    if len(seeds) > 1:
        forward, params = stacked_twin(states, skip, device)
    else:
        single, params = torch_twin(states[0], skip, device)
        forward = lambda x: single(x[0])[None]     # noqa: E731  (one net: (1, B, inputs) -> (1, B, classes))
    optimizer = torch.optim.Adam(params, lr=LR, foreach=True)
    x, y = data

    def step(index):
        logits = forward(x[index])
        losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y[index].flatten(), reduction="none")
        optimizer.zero_grad()
        losses.view(index.shape).mean(dim=1).sum().backward()
        optimizer.step()

    def epoch(number, steps=None):
        _steps(step, torch.from_numpy(epoch_order(seeds, len(y), number)).to(device), steps)
    return epoch


def time_epochs(epoch, repeats, sync):
    """Seconds of each of `repeats` epochs after a warm-up of a few steps, each epoch fenced by `sync`."""
    epoch(0, steps=WARMUP_STEPS)
    seconds = []
    for number in range(1, repeats + 1):
        sync()
        began = time.perf_counter()
        epoch(number)
        sync()
        seconds.append(time.perf_counter() - began)
    return seconds


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(members=50, images=100_000, repeats=10, skips=("plain", "residual"), with_torch=True, device="cpu",
        progress=None):
    """W4 for each net in `skips`: an ensemble of `members` and a single net, minigrad then PyTorch (when installed).

    Returns {"minigrad": {net: {"ensemble": timing, "single": timing}}, "torch": the same or {}, ...}, a timing
    being {"nets", "epoch_s" (median), "net_epoch_s" (epoch_s / nets), "samples_s" (every epoch)}.
    """
    tune_allocator()
    torch = _torch() if with_torch else None
    host = synthetic_images(images)
    engines = {"minigrad": (minigrad_epoch, tuple(mg.to_device(a, device) for a in host),
                            mg.get_device(device).synchronize)}
    if torch is not None:
        engines["torch"] = (torch_epoch, tuple(torch.from_numpy(a).to(device) for a in host), _torch_sync(device))
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": numpy.__version__,
                          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
              "device": device, "members": members, "images": images, "batch_size": BATCH, "repeats": repeats,
              "minigrad": {}, "torch": {}}
    if torch is not None:
        result["machine"].update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    for skip in skips:
        for workload, seeds in (("ensemble", list(range(members))), ("single", [0])):
            for who, (make, data, sync) in engines.items():
                if progress:
                    progress(f"W4 {skip} {workload} ({who})")
                seconds = time_epochs(make(seeds, skip, data, device), repeats, sync)
                median = statistics.median(seconds)
                result[who].setdefault(skip, {})[workload] = {"nets": len(seeds), "epoch_s": median,
                                                              "net_epoch_s": median / len(seeds), "samples_s": seconds}
    return result


def table_rows(result):
    """One dict per (net, ensemble or single): each engine's seconds per epoch and per net-epoch, and their ratio."""
    rows = []
    for net, ours in result["minigrad"].items():
        theirs = result["torch"].get(net, {})
        for workload, timing in ours.items():
            twin = theirs.get(workload)
            rows.append({"net": net, "workload": f"ensemble of {timing['nets']}" if workload == "ensemble"
                         else "single net", "epoch_s": timing["epoch_s"], "net_epoch_s": timing["net_epoch_s"],
                         "torch_epoch_s": twin and twin["epoch_s"], "torch_net_epoch_s": twin and twin["net_epoch_s"],
                         "ratio": twin and timing["epoch_s"] / twin["epoch_s"]})
    return rows
