"""Fig 4: training accuracy is correlated with distance from degenerate manifolds (80 plain nets, best 10 vs worst 10)."""
from ..reproduction.aggregate import rank_split
from ..reproduction.claims import Order, SeparatesFirst
from ..reproduction.spec import Curve, Figure
from .common import INDEX_NOTE, mlp, seeds

SEEDS = {"paper": 80, "quick": 24, "test": 4}
BEST_WORST = {"paper": 10, "quick": 4, "test": 2}
EPOCHS = {"paper": 100, "quick": 8, "test": 2}


def nets(preset, data):
    """Fig 5's plain nets (the same runs, shared: the same settings, written the same way), with more seeds."""
    return {"Plain": [mlp(preset, "plain", data=data, seed=s, epochs=preset.pick(EPOCHS), skip="plain")
                      for s in seeds(preset, SEEDS)]}


def split(rows_by_group, preset):
    """The paper ranks nets by mean training accuracy over the run and keeps the best and the worst k."""
    best, worst = rank_split(rows_by_group["Plain"], preset.pick(BEST_WORST))
    return {"Best": best, "Worst": worst}


CLAIMS = [
    Order("Best nets have the higher training accuracy (by construction: the ranking) (Fig 4a)", "train_acc",
          ("Best", "Worst"), at="mean", percent=True, by_construction=True),
    Order("Worst nets are more degenerate (Fig 4b)", "hessian/degeneracy", ("Worst", "Best"), at="mean"),
    Order("Worst nets have smaller incoming-weight norms: closer to elimination (Fig 4c)", "meters/elimination/mean",
          ("Best", "Worst"), at="mean"),
    Order("Worst nets have larger overlap between incoming weights (Fig 4d)", "meters/overlap/mean",
          ("Worst", "Best"), at="mean"),
    SeparatesFirst("The overlap curves separate earlier than the weight-norm curves (Fig 4d)", "meters/overlap/mean",
                   "meters/elimination/mean", ("Worst", "Best"), signs=(1, -1)),
    Order("(v8, measure not recovered; ours: top-3 PC variance share of layer outputs) worst nets are more linearly "
          "dependent", "meters/top3_out/mean", ("Worst", "Best"), at="mean"),
]
PANELS = [Curve("train_acc", "training accuracy (%)", percent=True, title="training accuracy"),
          Curve("hessian/degeneracy", "degeneracy index", title="degeneracy index"),
          Curve("meters/elimination/mean", "mean incoming-weight norm", title="elimination (norm)"),
          Curve("meters/overlap/mean", "mean overlap (correlation)", title="overlap"),
          Curve("meters/top3_out/mean", "top-3 variance share", title="linear dependence (ours)")]


def figure(name="fig4", data="cifar100", title="Training accuracy is correlated with distance from degenerate manifolds",
           paper=None, notes=None):
    paper = paper or ("80 plain 30-layer nets on CIFAR-100 (coarse) with different initializations and minibatch "
                      "orders; the best 10 and worst 10 by mean training accuracy: the worst are more degenerate (b), "
                      "have smaller incoming-weight norms (c) and larger overlaps (d); overlaps separate earlier.")
    return Figure(name, title, paper, lambda preset: nets(preset, data), CLAIMS, PANELS, regroup=split,
                  notes=notes or (lambda preset: INDEX_NOTE), reuses=True)


FIGURE = figure()
