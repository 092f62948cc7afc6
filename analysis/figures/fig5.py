"""Fig 5: singularity elimination through bias regularization improves training (30 layers, CIFAR-10 and -100)."""
from ..reproduction.claims import Order, Similar
from ..reproduction.spec import Curve, Figure, Layers
from .common import CIFAR, INDEX_NOTE, mlp, seeds

SEEDS = {"paper": 50, "quick": 3, "test": 2}
EPOCHS = {"paper": 100, "quick": 8, "test": 2}
DATASETS = ("cifar10", "cifar100")


def nets(data):
    """The five nets of Fig 5; BiasReg uses the paper's tuned (mu, sigma) for the data set, lambda = 1e-3 (ours)."""
    return {"Residual": {"skip": "residual"}, "ResMalInit": {"skip": "residual", "init": "malicious"},
            "BiasReg": {"skip": "plain", "bias_reg": data}, "BiasL2Reg": {"skip": "plain", "bias_reg": "l2"},
            "Plain": {"skip": "plain"}}


def label(name, data):
    return f"{name} ({CIFAR[data]})"


def stem(name):
    return name.lower().replace("+", "")


def groups(preset, datasets=DATASETS, nets=nets, **options):
    return {label(name, data): [mlp(preset, stem(name), data=data, seed=s, epochs=preset.pick(EPOCHS), **model,
                                    **options) for s in seeds(preset, SEEDS)]
            for data in datasets for name, model in nets(data).items()}


def claims(data, prefix="", label=label):
    g = lambda *names: tuple(label(n, data) for n in names)     # noqa: E731
    panel = "a" if data == "cifar10" else "b"
    out = [
        Order(prefix + f"{CIFAR[data]} training accuracy: Residual > ResMalInit > BiasReg > BiasL2Reg (Fig 5{panel})",
              "train_acc", g("Residual", "ResMalInit", "BiasReg", "BiasL2Reg"), at="mean", percent=True, paired=True),
        Similar(prefix + f"{CIFAR[data]} training accuracy: BiasL2Reg ≈ Plain (Fig 5{panel})", "train_acc",
                g("BiasL2Reg", "Plain"), at="mean", percent=True, paired=True),
        Order(prefix + f"{CIFAR[data]} BiasReg trains better than Plain (the paper's point)", "train_acc",
              g("BiasReg", "Plain"), at="mean", percent=True, paired=True),
    ]
    if data == "cifar100":
        out += [Order(prefix + "Residual is less degenerate than BiasReg (Fig 5c, stated)", "hessian/degeneracy",
                      g("BiasReg", "Residual"), at="early", paired=True),
                Order(prefix + "BiasReg is less degenerate than Plain (Fig 5c, implied)", "hessian/degeneracy",
                      g("Plain", "BiasReg"), at="early", paired=True)]
    return out


def _curves(data):
    return tuple(label(n, data) for n in nets(data))


FIGURE = Figure(
    "fig5", "Singularity elimination through bias regularization improves training",
    "30-layer nets, 50 runs each, ±1 SEM. Training accuracy on CIFAR-10 (a) and CIFAR-100 (b): Residual > ResMalInit "
    "(slightly below) > BiasReg > BiasL2Reg ≈ Plain. (c) Degeneracy index: residual below BiasReg (stated), BiasReg "
    "below plain (implied).",
    groups, claims("cifar10") + claims("cifar100"),
    [Curve("train_acc", "training accuracy (%)", groups=_curves("cifar10"), percent=True, title="CIFAR-10"),
     Curve("train_acc", "training accuracy (%)", groups=_curves("cifar100"), percent=True, title="CIFAR-100"),
     Curve("hessian/degeneracy", "degeneracy index", groups=tuple(label(n, "cifar100") for n in
                                                                 ("Plain", "Residual", "BiasReg")),
           title="degeneracy index, CIFAR-100"),
     Layers("meters/rms", "RMS of layer output", epochs=(0,), groups=_curves("cifar100"), log=True,
            title="activation scale at init, CIFAR-100 (ours)")],
    notes=lambda preset: ("BiasReg's λ is not reported; we use λ = 1e-3 on Σ(b − b*)² over all hidden biases, fixed "
                          "before any run (models/objective.py). " + INDEX_NOTE))
