"""Fig S6: shallow nets (2 hidden layers x 16 units, CIFAR-100), plain vs residual."""
from ..reproduction.claims import Order, Tracks
from ..reproduction.spec import Curve, Figure
from .common import mlp, seeds

SEEDS = {"paper": 16, "quick": 16, "test": 2}
EPOCHS = {"paper": 25, "quick": 25, "test": 2}


def groups(preset):
    return {name: [mlp(preset, f"shallow-{name.lower()}", data="cifar100", seed=s, epochs=preset.pick(EPOCHS),
                       depth=2, width=16, skip=name.lower()) for s in seeds(preset, SEEDS)]
            for name in ("Plain", "Residual")}


CLAIMS = [
    Order("Residual trains slightly better (Fig S6)", "train_acc", ("Residual", "Plain"), at="last", percent=True),
    Order("Residual tests slightly better (Fig S6)", "test_acc", ("Residual", "Plain"), at="last", percent=True),
    Order("Residual is less degenerate (Fig S6)", "hessian/degeneracy", ("Plain", "Residual"), at="mean"),
    Order("Residual has more negative eigenvalues (Fig S6)", "hessian/negativity", ("Residual", "Plain"), at="mean"),
    Order("Residual has larger gradient norms (Fig S6e)", "meters/grad/mean", ("Residual", "Plain"), at="mean"),
    Tracks("Gradient norms track overlap over training (Fig S6)", "meters/grad/mean", "meters/overlap/layer02",
           ("Plain", "Residual")),
    Order("Residual has lower overlap in the second hidden layer (Fig S6f)", "meters/overlap/layer02",
          ("Plain", "Residual"), at="mean"),
]

FIGURE = Figure(
    "figS6", "Shallow networks",
    "2 hidden layers x 16 units on CIFAR-100, 16 runs, about 25 epochs: the residual net is slightly better (train "
    "and test), less degenerate, has more negative eigenvalues, larger gradient norms (the plain net's do not vanish "
    "either) and lower overlap (second hidden layer).",
    groups, CLAIMS,
    [Curve("train_acc", "training accuracy (%)", percent=True, title="training"),
     Curve("test_acc", "test accuracy (%)", percent=True, title="test"),
     Curve("hessian/degeneracy", "degeneracy index", title="degeneracy index"),
     Curve("hessian/negativity", "negativity index", title="negativity index"),
     Curve("meters/grad/mean", "mean ‖∂ℓ_n/∂x_l‖", title="gradient norms"),
     Curve("meters/overlap/layer02", "overlap, layer 2", title="overlap, second hidden layer")],
    notes=lambda preset: ("Inputs are the 3,072 standardized pixels (the paper does not say whether the shallow nets "
                          "used PCA). The residual net has one skip (layer 1 to layer 2)."))
