"""Fig S2: best vs worst of many small plain nets (10 x 16, CIFAR-100 PCA-128), exact spectra at the end."""
from ..reproduction.aggregate import rank_split
from ..reproduction.claims import Order
from ..reproduction.spec import Curve, Figure
from .common import mlp, seeds
from .figS1 import SMALL

SEEDS = {"paper": 400, "quick": 20, "test": 4}
BEST_WORST = {"paper": 40, "quick": 5, "test": 2}
EPOCHS = {"paper": 30, "quick": 30, "test": 2}


def groups(preset):
    epochs = preset.pick(EPOCHS)
    return {"Plain": [mlp(preset, "small-plain", data="cifar100", seed=s, epochs=epochs, skip="plain",
                          methods=("exact", "moments", "slq"), hessian_epochs=(epochs,), **SMALL)
                      for s in seeds(preset, SEEDS)]}


def split(rows_by_group, preset):
    best, worst = rank_split(rows_by_group["Plain"], preset.pick(BEST_WORST))
    return {"Best": best, "Worst": worst}


CLAIMS = [
    Order("Best nets train better (by construction: the ranking)", "train_acc", ("Best", "Worst"), at="mean", percent=True,
          by_construction=True),
    Order("Best nets are less degenerate (exact) (Fig S2)", "hessian/exact_degenerate", ("Worst", "Best"), at="last"),
    Order("Best nets have more negative eigenvalues (exact) (Fig S2)", "hessian/exact_negative", ("Best", "Worst"),
          at="last"),
    Order("Best nets have less overlap (Fig S2)", "meters/overlap/mean", ("Worst", "Best"), at="mean"),
    Order("Best nets have slightly larger incoming-weight norms by the end (Fig S2)", "meters/elimination/mean",
          ("Best", "Worst"), at="last"),
]

FIGURE = Figure(
    "figS2", "Best vs worst small plain networks",
    "400 plain 10 x 16 nets trained 30 epochs; the best 40 vs the worst 40: the best are less degenerate, have more "
    "negative eigenvalues and less overlap, and slightly larger norms by the end.",
    groups, CLAIMS,
    [Curve("train_acc", "training accuracy (%)", percent=True, title="training accuracy"),
     Curve("meters/overlap/mean", "mean overlap", title="overlap"),
     Curve("meters/elimination/mean", "mean incoming-weight norm", title="norm")],
    regroup=split,
    notes=lambda preset: (f"{preset.pick(SEEDS)} nets, best {preset.pick(BEST_WORST)} vs worst "
                          f"{preset.pick(BEST_WORST)} by mean training accuracy. The exact spectrum is computed once, "
                          "after the last epoch, on the first "
                          f"{preset.exact_samples} training examples (one Hessian-vector product per parameter)."))
