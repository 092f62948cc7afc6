"""W4: one training epoch of a seed ensemble against one epoch of a single net, next to PyTorch.

The net is W1's (analysis/bench/engine.py): fully connected ReLU, 3072 inputs, 30 hidden layers
of 128, 20 classes, plain and residual, on N synthetic images of CIFAR shape (float32). An
epoch visits the N images in batches of 500 with Adam (lr 5e-4), each of the S members in its
own seed's order, and minigrad steps them as models/training/loop.py does: the Stacked
ensemble of models/ensemble.py, `objective`'s per-member losses, losses.sum().backward(),
one Adam step. The single net is the same loop at S = 1 (the ensemble of one net).

PyTorch's ensemble does the same work per step: every weight stacked to (S, out, in), each
layer of all members one torch.baddbmm, cross-entropy averaged per member and summed over
members, Adam(foreach=True). Its single net is analysis.bench.engine.torch_twin. Both engines
start from the same weights and see the same minibatches on the same device.

Does a member of an ensemble train faster than a net alone? The table answers with seconds
per epoch and per net-epoch (an ensemble's epoch / S). Times are medians over `repeats`
epochs after a warm-up of a few steps; each epoch starts and ends with the device
synchronized. minigrad's step does all the loop does: its epoch order goes to the device once
(as the loop's does) and it reads the members' losses back (the divergence check), one
synchronization per step. PyTorch's step is the plain reference: its epoch order goes to the
device once and nothing is read back, so the comparison is, if anything, unfair to minigrad.

The floor: every matrix product one training step must do (`step_products`: per layer the
forward X Wᵀ, and backward dX = dY W and dW = dYᵀ X, the first layer's dX excepted, batched
over the members; `net_products` reads the layers and members off the ensemble itself, and a
test checks them against the products a real step runs), as bare array-module matmuls on
operands of the step's shapes and transposes, timed in the same run as the engines, epoch for
epoch. step / floor is what an engine spends on everything else (elementwise work, the loss,
Adam, allocation, Python), as a multiple of the products it cannot avoid.
Run: python cli.py bench --workload ensemble [--members 50 --images 100000 --device cuda]
"""
import collections
import math
import os
import platform
import statistics
import time

import numpy

import minigrad as mg
from minigrad.allocator import tune_allocator
from .engine import CLASSES, DEPTH, INPUTS, WIDTH, _torch_sync, torch_twin
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
        losses = objective(model, mg.Tensor(x[index]), y[index])
        if not numpy.isfinite(mg.to_host(losses.data)).all():
            raise FloatingPointError("W4 diverged")
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()

    def epoch(number, steps=None):
        _steps(step, mg.to_device(epoch_order(seeds, len(y), number), device), steps)
    return epoch


class Product(collections.namedtuple("Product", "name a b ta tb")):
    """One product a @ b of a training step: `a` and `b` the shapes of the arrays as stored, `ta` / `tb` whether
    the product reads that operand with its last two axes swapped (a transposed view, as the engine does)."""

    @property
    def flops(self):
        m, k = self.a[-2:][::-1] if self.ta else self.a[-2:]
        n = self.b[-2] if self.tb else self.b[-1]
        return 2 * math.prod(self.a[:-2]) * m * k * n


def step_products(sizes, batch, members=1):
    """Every matrix product of one training step of the fully connected net whose layers map sizes[l] to sizes[l + 1].

    Per layer l, with X (lead, batch, in) its input, W (lead, out, in) its weight and dY (lead, batch, out) the
    cotangent of its output: forward X Wᵀ, backward dX = dY W (not for the first layer: nobody needs the
    data's gradient) and dW = dYᵀ X. lead is (members,) for an ensemble, () for one net. Skips by the
    identity, biases, ReLU and the loss are elementwise or reductions: no products.
    """
    lead = (members,) if members > 1 else ()
    forward, backward = [], []
    for l, (inp, out) in enumerate(zip(sizes, sizes[1:])):
        x, w, dy = lead + (batch, inp), lead + (out, inp), lead + (batch, out)
        forward.append(Product(f"forward {l}", x, w, False, True))
        backward[:0] = ([Product(f"dX {l}", dy, w, False, False)] if l else []) + \
            [Product(f"dW {l}", dy, x, True, False)]
    return forward + backward


def net_products(model, batch):
    """step_products of `model` at `batch`, read from the net itself: its dense layers' weights, in order, give
    the sizes (W of layer l is (members, out, in) in a Stacked ensemble, (out, in) in one net) and the members.
    A net whose layers do not chain (each one's `in` the last one's `out`) is refused: it is not the fully
    connected chain step_products counts."""
    weights = [m.weight.shape for m in model.modules() if isinstance(m, mg.nn.Linear)]
    if not weights or any(len(w) != len(weights[0]) or w[:-2] != weights[0][:-2] for w in weights):
        raise ValueError(f"not a chain of dense layers of one ensemble: weights {weights}")
    sizes = [weights[0][-1]] + [w[-2] for w in weights]
    if any(w[-1] != inp for w, inp in zip(weights, sizes)):
        raise ValueError(f"the dense layers do not chain: weights {weights}")
    lead = weights[0][:-2]
    return step_products(sizes, batch, lead[0] if lead else 1)


def floor_epoch(seeds, skip, data, device):
    """epoch(number, steps=None): an epoch's matrix products alone (net_products of the very ensemble the engine
    trains, at each minibatch's size), as bare matmuls of the array module on arrays of those shapes and dtype, one
    set of operands per layer (as the step has); epoch.products: those of a full step."""
    xp = device.xp
    rng = numpy.random.default_rng(0)
    net = ensemble([net_config(skip, seed) for seed in seeds])      # on the host: only its shapes are read
    dtype = next(iter(net.parameters())).dtype
    n, operands = len(data[1]), {}

    def array(shape):
        return mg.to_device(rng.standard_normal(shape, dtype=dtype), device)

    def prepared(batch):
        """(a, b) per product, each already the view the product reads; an array is shared as the step shares it."""
        if batch not in operands:
            arrays, pairs = {}, []
            for p in net_products(net, batch):
                layer = p.name.split()[-1]
                roles = {"forward": ("x", "w"), "dX": ("dy", "w"), "dW": ("dy", "x")}[p.name.split()[0]]
                views = []
                for role, shape, swapped in zip(roles, (p.a, p.b), (p.ta, p.tb)):
                    stored = arrays.setdefault((role, layer), array(shape))
                    views.append(xp.swapaxes(stored, -1, -2) if swapped else stored)
                pairs.append(tuple(views))
            operands[batch] = pairs
        return operands[batch]

    def step(index):
        for a, b in prepared(index.shape[1]):
            a @ b

    def epoch(number, steps=None):     # the minibatches' sizes are all the floor needs of an epoch's order
        _steps(step, numpy.broadcast_to(numpy.int64(0), (len(seeds), n)), steps)
    epoch.products = net_products(net, BATCH)
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

    Returns {"minigrad": {net: {"ensemble": timing, "single": timing}}, "torch": the same or {}, "floor": the
    same for the step's products alone, ...}, a timing being {"nets", "epoch_s" (median), "net_epoch_s"
    (epoch_s / nets), "samples_s" (every epoch)}; a floor timing also has "products" and "step_gflop" (per
    full step). The floor is timed first, then each engine, for each (net, workload).
    """
    tune_allocator()
    torch = _torch() if with_torch else None
    host = synthetic_images(images)
    on = mg.get_device(device)             # minigrad's Device, resolved once; PyTorch and the record take the name
    on_device = tuple(mg.to_device(a, on) for a in host)
    engines = {"floor": (floor_epoch, on_device, on.synchronize, on),
               "minigrad": (minigrad_epoch, on_device, on.synchronize, on)}
    if torch is not None:
        engines["torch"] = (torch_epoch, tuple(torch.from_numpy(a).to(device) for a in host), _torch_sync(device),
                            device)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": numpy.__version__,
                          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
              "device": device, "members": members, "images": images, "batch_size": BATCH, "repeats": repeats,
              "minigrad": {}, "torch": {}, "floor": {}}
    if torch is not None:
        result["machine"].update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    for skip in skips:
        for workload, seeds in (("ensemble", list(range(members))), ("single", [0])):
            for who, (make, data, sync, where) in engines.items():
                if progress:
                    progress(f"W4 {skip} {workload} ({who})")
                made = make(seeds, skip, data, where)
                seconds = time_epochs(made, repeats, sync)
                median = statistics.median(seconds)
                result[who].setdefault(skip, {})[workload] = {"nets": len(seeds), "epoch_s": median,
                                                              "net_epoch_s": median / len(seeds), "samples_s": seconds}
                if who == "floor":
                    products = made.products
            result["floor"][skip][workload].update(products=len(products),
                                                   step_gflop=sum(p.flops for p in products) / 1e9)
    return result


def table_rows(result):
    """One dict per (net, ensemble or single): each engine's seconds per epoch and per net-epoch, their ratio, the
    floor's seconds per epoch (its products alone) and each engine's epoch / floor (the same as step / floor)."""
    rows = []
    for net, ours in result["minigrad"].items():
        theirs, floors = result["torch"].get(net, {}), result.get("floor", {}).get(net, {})
        for workload, timing in ours.items():
            twin, floor = theirs.get(workload), floors.get(workload)
            rows.append({"net": net, "workload": f"ensemble of {timing['nets']}" if workload == "ensemble"
                         else "single net", "epoch_s": timing["epoch_s"], "net_epoch_s": timing["net_epoch_s"],
                         "torch_epoch_s": twin and twin["epoch_s"], "torch_net_epoch_s": twin and twin["net_epoch_s"],
                         "ratio": twin and timing["epoch_s"] / twin["epoch_s"],
                         "floor_epoch_s": floor and floor["epoch_s"], "step_gflop": floor and floor["step_gflop"],
                         "over_floor": floor and timing["epoch_s"] / floor["epoch_s"],
                         "torch_over_floor": twin and floor and twin["epoch_s"] / floor["epoch_s"]})
    return rows


def tables(result, device, repeats, with_torch):
    """The printed tables of W4, the epochs and the GEMM floor: (title, columns, rows) of strings."""
    from . import number, torch_reference
    rows = [(r["net"], r["workload"], f"{r['epoch_s']:.3g}", f"{r['net_epoch_s']:.3g}",
             number(r["torch_epoch_s"], ".3g"), number(r["torch_net_epoch_s"], ".3g"), number(r["ratio"], ".2f"))
            for r in table_rows(result)]
    floors = [(r["net"], r["workload"], f"{r['floor_epoch_s']:.3g}", f"{r['step_gflop']:.3g}", f"{r['over_floor']:.2f}",
               number(r["torch_over_floor"], ".2f")) for r in table_rows(result)]
    return [(f"W4: a training epoch of {result['images']:,} images, batch 500, Adam, on {device} (median s of "
             f"{repeats} epochs; per net: the epoch / its nets){torch_reference(with_torch, bool(result['torch']))}",
             ("net", "workload", "minigrad s/epoch", "per net", "PyTorch s/epoch", "per net", "minigrad / PyTorch"),
             rows),
            ("W4 at the GEMM floor: the step's matrix products alone, as bare matmuls of the array module, "
             "timed in the same run (median s of the same epochs)",
             ("net", "workload", "floor s/epoch", "GFLOP/step", "minigrad step / floor", "PyTorch step / floor"),
             floors)]
