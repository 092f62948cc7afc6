"""Per-layer spectra: where the degeneracy lives, layer by layer, and how block-diagonal H is (ours, declared
before its runs).

Not a figure of the paper. For the nets of Fig 3 (20 x 128, CIFAR-100: plain, residual and
hyper-residual as stated, and the residual and hyper-residual nets under the scaled-skips
reading of fig3-readings) and the small nets of Fig S1 (10 x 16 on 128 PCA components), each
layer's block of the Hessian H_bb = P_b H P_b (its weight and bias) is measured at
initialization (epoch 0) and after training (the last epoch), with its leakage
1 − ‖P_b H v‖²/‖H v‖² (analysis/spectra/blocks.py, docs/guide.md "Per-layer spectra").
The runs are Fig 3's, fig3-readings' and Fig S1's own (shared run folders, unchanged): the
numbers are measured after training, from each run's last checkpoint and from its initial
weights, rebuilt from its seed. Fig S1's nets, whose runs measure H exactly, get exact block
spectra (each block's dense matrix, float64, eigvalsh); Fig 3's nets get each block's SLQ (a
block of 16,512 parameters is too large to be cheap dense). Both on the first exact-spectrum
examples of the preset (256 at quick, the examples Fig S1's exact spectra use) with the
training objective's Hessian, window |λ| ≤ 3e-3.

Per run, from its layers: the depth slope, the least-squares slope of the block degenerate
fraction against the hidden layer's index over hidden layers 2..D (the layers of one shape,
D × D weights; the first layer's block holds the input's 3,072 or 128 columns and the
output's its classes), the mean degenerate fraction over the same layers, the mean leakage
over every block (the output layer's too), and, for Fig S1's nets, H's exact degenerate
fraction (the run's own measurement) minus the blocks' pooled one (all blocks' eigenvalues
together: the spectrum of H's block-diagonal part). Seeds are the unit of every claim; the
nets of one seed share their initial weights and minibatch order, so orders are paired.
"""
import math
import os
import time
from dataclasses import dataclass

import numpy

from ..reproduction.claims import HELD, NOT_HELD, WITHIN, Order, format_stats, pair_test
from ..reproduction.spec import Figure, Layers
from ..spectra.window import WINDOW
from . import fig3, figS1, readings

NAME = "per-layer"
READING = "scaled skips"
FIG3 = ("Plain", "Residual", "Hyperres")
SCALED = tuple(readings.label(net, READING) for net in ("Residual", "Hyperres"))
SMALL = tuple(f"{net} (small)" for net in ("Plain", "Residual"))
# the SLQ of each of Fig 3's blocks: Lanczos steps and probes per block, probes of the leakage per block
SLQ = {"paper": {"steps": 30, "probes": 3, "leakage_probes": 3},
       "quick": {"steps": 10, "probes": 1, "leakage_probes": 2},
       "test": {"steps": 4, "probes": 1, "leakage_probes": 2}}
EXACT_LEAKAGE_PROBES = {"paper": 3, "quick": 2, "test": 2}
HIGH_LEAKAGE = 0.5          # "H is far from block-diagonal": more of ‖H v‖² leaves the block than stays in it
QUANTITIES = ("degenerate", "negative", "leakage")


def groups(preset):
    """Fig 3's stated nets, fig3-readings' scaled-skip nets and Fig S1's nets: the very runs those figures declare."""
    stated = fig3.groups(preset)
    scaled = readings.groups(preset)
    small = figS1.groups(preset)
    return {**{net: stated[net] for net in FIG3}, **{label: scaled[label] for label in SCALED},
            **{label: small[net] for label, net in zip(SMALL, ("Plain", "Residual"))}}


# ----------------------------------------------------------------------------- the measurement

def method_of(spec):
    """'exact' for the nets whose runs measure H exactly (Fig S1's), else 'slq'."""
    return "exact" if "exact" in spec.plan.get("hessian", {}).get("methods", ()) else "slq"


def settings(spec, preset):
    """What one run's per-layer measurement uses (also the key of its cache)."""
    method = method_of(spec)
    chosen = dict(SLQ[preset.budget or preset.name]) if method == "slq" else {
        "steps": None, "probes": EXACT_LEAKAGE_PROBES[preset.budget or preset.name],
        "leakage_probes": EXACT_LEAKAGE_PROBES[preset.budget or preset.name]}
    return {"method": method, "samples": preset.exact_samples, "window": WINDOW, "seed": 0, **chosen}


def layer_key(block):
    """'layer01' for hidden.0 (hidden layers from 1, as the meters number them), 'output', or the block's name."""
    if block.startswith("hidden."):
        return f"layer{int(block.split('.')[1]) + 1:02d}"
    return block.replace(".", "_")


def summarize(blocks, depth):
    """A metrics row of one measurement: per block its degenerate and negative fractions and leakage
    ('per_layer/<quantity>/layerNN', '.../output'), and the run's summaries (module docstring)."""
    row = {}
    for b in blocks:
        key = layer_key(b["block"])
        row[f"per_layer/degenerate/{key}"] = b["fractions"]["degenerate"]
        row[f"per_layer/negative/{key}"] = b["fractions"]["negative"]
        row[f"per_layer/leakage/{key}"] = b["leakage"]
    same = [(layer, row.get(f"per_layer/degenerate/layer{layer:02d}")) for layer in range(2, depth + 1)]
    if len(same) >= 2 and all(v is not None and math.isfinite(v) for _, v in same):
        x, y = numpy.array(same, dtype=float).T
        row["per_layer/degenerate/slope"] = float(numpy.polyfit(x, y, 1)[0])
        row["per_layer/degenerate/mean"] = float(y.mean())
    leaks = [b["leakage"] for b in blocks if b["leakage"] is not None]
    if leaks:
        row["per_layer/leakage/mean"] = float(numpy.mean(leaks))
    dims = numpy.array([b["dim"] for b in blocks], dtype=float)
    fractions = numpy.array([b["fractions"]["degenerate"] for b in blocks], dtype=float)
    row["per_layer/degenerate/pooled"] = float((dims * fractions).sum() / dims.sum())
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in row.items()}


def measure_net(model, x, y, chosen, depth):
    """One net's per-layer measurement as a metrics row (summarize), with its cost."""
    from ..spectra.blocks import layer_blocks, per_layer_spectra
    from ..spectra.hessian import HessianOperator
    began = time.perf_counter()
    operator = HessianOperator(model, x, y, penalty=True)
    result = per_layer_spectra(operator, layer_blocks(model), method=chosen["method"], steps=chosen["steps"] or 1,
                               probes=chosen["probes"], seed=chosen["seed"], window=chosen["window"],
                               leakage_probes=chosen["leakage_probes"])
    row = summarize(result["blocks"], depth)
    row.update({"per_layer/products": float(result["products"]), "per_layer/seconds": time.perf_counter() - began})
    return row


MEASURE_ERRORS = (OSError, ValueError, ArithmeticError, RuntimeError, KeyError)


def measure_run(folder, chosen, device="cpu", data_root=None):
    """{epoch: row} of a run folder: its initial weights (rebuilt from its seed, epoch 0) and its last checkpoint."""
    from models.training import load_run, prepare
    config, data, trained, last = load_run(folder, device=device, data_root=data_root)
    _, initial = prepare(config, data=data, device=device)
    n = min(chosen["samples"], len(data.train_y))
    x, y = data.train_x[:n], data.train_y[:n]
    depth = int(config.model["depth"])
    found = {0: measure_net(initial, x, y, chosen, depth)}
    if last != 0:
        found[last] = measure_net(trained, x, y, chosen, depth)
    return found


def _cache(out, spec):
    return os.path.join(out, "measured", spec.name + ".json")


def _read_cache(path, chosen, last):
    import json
    try:
        with open(path) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("settings") != chosen or cached.get("last") != last:
        return None
    return {int(e): row for e, row in cached.get("epochs", {}).items()}


def measure(spec, rows, sweep, preset, out):
    """reproduce's hook (Figure.measure): the run's rows with its per-layer numbers added at epoch 0 and at its
    last epoch. Measured once and kept in <figure>/measured/<run>.json (remeasured when the settings or the
    run's last epoch change); after sweep.stop_at only what is kept is used. A measurement that fails (no
    checkpoint, say) leaves the rows as they are, and its claims read "no data"; the file says why."""
    from models.files import write_json
    from ..reproduction.sweep import run_dir
    if not rows:
        return rows
    chosen, last = settings(spec, preset), rows[-1]["epoch"]
    path = _cache(out, spec)
    found = _read_cache(path, chosen, last)
    if found is None:
        if sweep.stop_at is not None and time.time() >= sweep.stop_at:
            return rows
        try:
            found = measure_run(run_dir(sweep.root, spec), chosen, sweep.device, sweep.data_root)
            error = None
        except MEASURE_ERRORS as e:
            found, error = {}, f"{type(e).__name__}: {e}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, {"run": spec.name, "settings": chosen, "last": last, "error": error,
                          "epochs": {str(e): row for e, row in found.items()}})
    return add(rows, found)


def add(rows, found):
    """Rows with {epoch: numbers} merged in, and H's exact degenerate fraction minus the blocks' pooled one where
    the run measured H exactly at that epoch."""
    out = []
    for row in rows:
        row = dict(row)
        extra = found.get(row["epoch"])
        if extra:
            row.update(extra)
            full, pooled = row.get("hessian/exact_degenerate"), extra.get("per_layer/degenerate/pooled")
            if full is not None and pooled is not None:
                row["per_layer/full_minus_pooled"] = full - pooled
        out.append(row)
    return out


# ----------------------------------------------------------------------------- claims

@dataclass
class Exceeds(Order):
    """Each group's runs' values exceed `bound`: the rule's one-sided test of the seeds' values − bound against
    δ (one-sample: the paired test against zeros). A chain of groups is held when every group's is."""
    bound: float = 0.0

    def judge(self, values):
        tests = []
        for g in self.groups:
            d = numpy.asarray(values[g], dtype=float) - self.bound
            tests.append(dict(pair_test(d, numpy.zeros_like(d), self.delta(), paired=True), pair=[g, f"{self.bound:g}"]))
        verdicts = [t["verdict"] for t in tests]
        return (NOT_HELD if NOT_HELD in verdicts else HELD if all(v == HELD for v in verdicts) else WITHIN), tests


SLOPE, MEAN, LEAK, GAP = ("per_layer/degenerate/slope", "per_layer/degenerate/mean", "per_layer/leakage/mean",
                          "per_layer/full_minus_pooled")
NETS = FIG3 + SCALED

CLAIMS = [
    Exceeds("Plain, trained: the block degenerate fraction rises with depth (slope over hidden layers 2–D > 0)",
            SLOPE, ("Plain",), at="last"),
    Exceeds("Plain, at initialization: the block degenerate fraction rises with depth (slope > 0)", SLOPE,
            ("Plain",), at=0),
    Order("Trained: the depth slope is steeper in the plain net than in the residual net", SLOPE,
          ("Plain", "Residual"), at="last", paired=True),
    Order("Trained: the depth slope is steeper in the plain net than in the hyper-residual net", SLOPE,
          ("Plain", "Hyperres"), at="last", paired=True),
    Order("Trained: the depth slope is steeper in the plain net than in the residual net with scaled skips", SLOPE,
          ("Plain", SCALED[0]), at="last", paired=True),
    Order("Trained: the depth slope is steeper in the plain net than in the hyper-residual net with scaled skips",
          SLOPE, ("Plain", SCALED[1]), at="last", paired=True),
    Order("Trained, mean block degenerate fraction over hidden layers 2–D: Plain > Residual > Hyperres "
          "(the per-layer reading of Fig 3b)", MEAN, FIG3, at="last", paired=True),
    Exceeds(f"Trained: H is far from block-diagonal, mean leakage over the layers > {HIGH_LEAKAGE:g} in every Fig 3 "
            "net", LEAK, NETS, at="last", bound=HIGH_LEAKAGE),
    Exceeds(f"At initialization: mean leakage > {HIGH_LEAKAGE:g} in every Fig 3 net", LEAK, NETS, at=0,
            bound=HIGH_LEAKAGE),
    Exceeds("Small plain net, trained, exact blocks: the block degenerate fraction rises with depth (slope > 0)",
            SLOPE, (SMALL[0],), at="last"),
    Order("Small nets, trained, exact blocks: the depth slope is steeper in the plain net than in the residual net",
          SLOPE, SMALL, at="last", paired=True),
    Order("Small nets, trained, exact blocks, mean over hidden layers 2–D: Plain > Residual (the per-layer reading "
          "of Fig S1's exact degeneracy claim)", MEAN, SMALL, at="last", paired=True),
    Exceeds(f"Small nets, trained, exact blocks: mean leakage > {HIGH_LEAKAGE:g}", LEAK, SMALL, at="last",
            bound=HIGH_LEAKAGE),
    Exceeds("Small nets, trained: H's own exact degenerate fraction exceeds the blocks' pooled one (H − blocks > 0): "
            "the blocks' spectra are not H's", GAP, SMALL, at="last"),
]


# ----------------------------------------------------------------------------- report

def tables(claims, rows_by_group):
    """Per net: the summaries at initialization and after training (mean ± SE over seeds), and what the
    measurements cost."""
    from ..reproduction import aggregate
    head = ("| net | epoch | depth slope | mean degenerate (layers 2–D) | mean leakage | pooled degenerate "
            "| H − pooled | runs failed | products | seconds |")
    lines = ["## Per-layer summaries", "", "Mean ± SE over seeds; epoch 0 is the initialization (rebuilt from each "
             "run's seed), the other the run's last. Cost: Hessian-vector products and seconds of the per-layer "
             "measurements, summed over the net's runs (measured once; kept in measured/).", "",
             head, "|---" * head.count(" | ") + "|---|"]
    total = 0.0
    for g, runs in rows_by_group.items():
        for at in (0, "last"):
            cells = [g, "0" if at == 0 else "last"]
            for metric in (SLOPE, MEAN, LEAK, "per_layer/degenerate/pooled", GAP):
                cells.append(format_stats(aggregate.mean_se([aggregate.value_at(r, metric, at) for r in runs]))
                             if any(aggregate.value_at(r, metric, at) is not None for r in runs) else "—")
            measured = [aggregate.value_at(r, "per_layer/seconds", at) for r in runs]
            products = [aggregate.value_at(r, "per_layer/products", at) for r in runs]
            seconds = sum(s for s in measured if s is not None)
            total += seconds
            cells += [str(sum(s is None for s in measured)), f"{sum(p for p in products if p is not None):.0f}",
                      f"{seconds:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Per-layer measurements in all: {total:.0f} s (this machine's time when they were taken)."]
    return "\n".join(lines)


def notes(preset):
    slq = SLQ[preset.budget or preset.name]
    return (__doc__.split("\n\n", 1)[1].strip() + f" At this preset: SLQ with {slq['steps']} Lanczos steps x "
            f"{slq['probes']} probe(s) per block (steps capped at the block's size), {slq['leakage_probes']} leakage "
            f"probes per block; exact blocks with {EXACT_LEAKAGE_PROBES[preset.budget or preset.name]} leakage probes; "
            f"{preset.exact_samples} examples. The blocks' spectra are not the spectrum of H: H's off-diagonal "
            "blocks couple the layers (the leakage says how much of H v leaves the block), and the eigenvalues of the "
            "diagonal blocks, pooled, are those of H's block-diagonal part, not of H (docs/guide.md, "
            "\"Per-layer spectra\"). A claim read at initialization follows the chance rule like every other: it is "
            "not counted when every net it compares ends at chance.")


def _panels():
    out = []
    for quantity, ylabel in (("degenerate", "block degenerate fraction, |λ| ≤ 3e-3"),
                             ("leakage", "leakage 1 − ‖P_b H v‖²/‖H v‖²")):
        for chosen, what in ((FIG3, "Fig 3 nets (SLQ)"), (("Plain",) + SCALED, "Fig 3 nets, scaled skips (SLQ)"),
                             (SMALL, "Fig S1 nets (exact)")):
            out.append(Layers(f"per_layer/{quantity}", ylabel, epochs=(0, "last"), groups=chosen,
                              title=f"{quantity} per layer: {what}"))
    return out


FIGURE = Figure(
    NAME, "Per-layer Hessian spectra: degenerate fraction and leakage, layer by layer",
    "Not a figure of the paper: where in depth the degeneracy of Fig 3 and Fig S1 lives, and how far H is from "
    "block-diagonal, per layer at initialization and after training, declared in analysis/figures/per_layer.py "
    "before any of its measurements.",
    groups, CLAIMS, _panels(), notes=notes, tables=tables, reuses=True, measure=measure)
