"""Ours: the comparisons of Fig 3 and Fig 5 on small plain and residual conv nets (the paper trained none)."""
from models.training import TrainConfig

from ..reproduction.claims import Order, Similar
from ..measurement_plan import plan
from ..reproduction.spec import Curve, Figure, RunSpec
from .common import INDEX_NOTE, seeds

SEEDS = {"paper": 10, "quick": 3, "test": 2}
EPOCHS = {"paper": 100, "quick": 10, "test": 2}
SIZE = {"paper": (3, (16, 32, 64)), "quick": (1, (8, 16, 32)), "test": (1, (4, 4, 4))}
# Conv nets cost about 20 ms per image per step on 2 CPU cores (im2col), so the quick preset uses fewer images
# and a narrower net than the MLP figures, and a smaller Hessian sample.
SUBSET = {"paper": None, "quick": (1000, 500), "test": None}
HESSIAN_SAMPLES = {"paper": 1024, "quick": 128, "test": 16}
# The first quick run used 3 epochs: 12 Adam steps left both nets at chance (5%), which tests nothing, so the
# quick preset runs 10 (about 6 minutes for 6 runs).
NETS = {"Residual": {"skip": "residual"}, "ResMalInit": {"skip": "residual", "init": "malicious"},
        "BiasReg": {"skip": "plain", "bias_reg": "cifar100"}, "BiasL2Reg": {"skip": "plain", "bias_reg": "l2"},
        "Plain": {"skip": "plain"}}


def groups(preset, names=("Plain", "Residual")):
    epochs = preset.pick(EPOCHS)
    blocks, widths = preset.pick(SIZE)
    out = {}
    for name in names:
        runs = []
        for s in seeds(preset, SEEDS):
            config = TrainConfig(model={"arch": "conv", "blocks": blocks, "widths": list(widths), **NETS[name]},
                                 data=preset.data("cifar100", flatten=False, subset=preset.pick(SUBSET)),
                                 epochs=epochs, seed=s)
            runs.append(RunSpec(config, plan(preset, epochs, samples=preset.pick(HESSIAN_SAMPLES)),
                                f"conv-{name.lower()}-cifar100-s{s}"))
        out[name] = runs
    return out


def _notes(preset):
    return (f"Data: {preset.pick(SUBSET) or 'all'} (training originals, test images) of CIFAR-100 (coarse). Conv nets "
            f"of models/conv.py: 3x3 convs, stages of widths {preset.pick(SIZE)[1]} with {preset.pick(SIZE)[0]} "
            "block(s) each, parameter-free shortcuts, no batch norm, Glorot normal. ResMalInit subtracts the "
            "shortcut's map from each block's kernel; BiasReg uses the paper's CIFAR-100 (mu, sigma) and our "
            "lambda = 1e-3 on every conv bias. " + INDEX_NOTE)


FIG3 = Figure(
    "conv-fig3", "Fig 3's comparison on plain vs residual conv nets (beyond the paper)",
    "The paper trains no conv nets; its Discussion argues the same singularities exist there. We repeat the Fig 3 "
    "comparison (training accuracy, degeneracy and negativity indices) on plain and residual conv nets.",
    groups,
    [Order("Residual conv net trains faster than plain (Fig 3a analogue)", "train_acc", ("Residual", "Plain"),
           at="mean", percent=True),
     Order("Plain conv net is more degenerate early (Fig 3b analogue)", "hessian/degeneracy", ("Plain", "Residual"),
           at="early"),
     Order("Residual conv net has more negative eigenvalues (Fig 3c analogue)", "hessian/negativity",
           ("Residual", "Plain"), at="early")],
    [Curve("train_acc", "training accuracy (%)", percent=True, title="training accuracy"),
     Curve("hessian/degeneracy", "degeneracy index", title="degeneracy index"),
     Curve("hessian/negativity", "negativity index", title="negativity index")],
    notes=_notes)

FIG5 = Figure(
    "conv-fig5", "Fig 5's comparison on conv nets (beyond the paper)",
    "Fig 5's five nets (Residual, ResMalInit, BiasReg, BiasL2Reg, Plain) built from the conv nets, CIFAR-100: the "
    "paper's order for MLPs is Residual > ResMalInit > BiasReg > BiasL2Reg ≈ Plain.",
    lambda preset: groups(preset, tuple(NETS)),
    [Order("Training accuracy: Residual > ResMalInit > BiasReg > BiasL2Reg (Fig 5 analogue)", "train_acc",
           ("Residual", "ResMalInit", "BiasReg", "BiasL2Reg"), at="mean", percent=True),
     Similar("BiasL2Reg ≈ Plain (Fig 5 analogue)", "train_acc", ("BiasL2Reg", "Plain"), at="mean", percent=True),
     Order("BiasReg trains better than Plain", "train_acc", ("BiasReg", "Plain"), at="mean", percent=True),
     Order("Residual is less degenerate than BiasReg, BiasReg less than Plain (Fig 5c analogue)",
           "hessian/degeneracy", ("Plain", "BiasReg", "Residual"), at="early")],
    [Curve("train_acc", "training accuracy (%)", percent=True, title="training accuracy"),
     Curve("hessian/degeneracy", "degeneracy index", groups=("Plain", "BiasReg", "Residual"), title="degeneracy index")],
    notes=_notes)
