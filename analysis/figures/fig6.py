"""Fig 6: skip connections effectively deal with vanishing gradients (30 layers, CIFAR-100)."""
from ..reproduction.claims import Order, Range, Similar
from ..reproduction.spec import Curve, Figure, Layers
from .common import mlp, seeds
from .fig5 import EPOCHS, SEEDS


def groups(preset):
    depth, _ = preset.shape(30, 128)
    nets = {"Residual": {"skip": "residual"}, "ResMalInit": {"skip": "residual", "init": "malicious"},
            "BiasReg+BN": {"skip": "plain", "bias_reg": "cifar100", "bn_layer": depth // 2},
            "BiasReg": {"skip": "plain", "bias_reg": "cifar100"}, "Plain": {"skip": "plain"}}
    stems = {"BiasReg+BN": "biasregbn"}
    return {name: [mlp(preset, stems.get(name, name.lower()), data="cifar100", seed=s, epochs=preset.pick(EPOCHS),
                       **model) for s in seeds(preset, SEEDS)] for name, model in nets.items()}


RATIO = "meters/grad/first_over_last"
CLAIMS = [
    Order("At epoch 0 gradients decay toward the input in Plain but not in Residual: ‖∂ℓ/∂x_1‖/‖∂ℓ/∂x_L‖ Residual > "
          "Plain (Fig 6a)", RATIO, ("Residual", "Plain"), at=0, paired=True),
    Order("... and ResMalInit > BiasReg (Fig 6a)", RATIO, ("ResMalInit", "BiasReg"), at=0, paired=True),
    Range("No decay toward the input for Residual and ResMalInit at epoch 0, nor explosion: ratio within [0.1, 10], "
          "the range of Fig 8b (Fig 6a)", RATIO, ("Residual", "ResMalInit"), at=0, low=0.1, high=10.0),
    Similar("Plain and BiasReg gradient profiles almost identical at epoch 0 (by construction: the same weights, "
            "and BiasReg's targets do not enter the forward pass) (Fig 6a)", RATIO, ("Plain", "BiasReg"), at=0,
            by_construction=True),
    Order("BiasReg+BN removes the decay: ratio BiasReg+BN > BiasReg (Fig 6a; decided by construction at epoch 0: the "
          "meters run in eval mode, where an untrained batch norm is the identity)", RATIO, ("BiasReg+BN", "BiasReg"),
          at=0, by_construction=True),
    Order("... the same after one epoch, when the BN layer has running statistics (added after the first quick run; "
          "see the notes)", RATIO, ("BiasReg+BN", "BiasReg"), at=1),
    Order("In later epochs residual gradients are larger: mean gradient norm Residual > Plain at epoch 2 (Fig 6a)",
          "meters/grad/mean", ("Residual", "Plain"), at=2),
    Order("BiasReg+BN approaches Residual and beats BiasReg: training accuracy Residual > BiasReg+BN > BiasReg (Fig 6b)",
          "train_acc", ("Residual", "BiasReg+BN", "BiasReg"), at="mean", percent=True),
]

FIGURE = Figure(
    "fig6", "Skip connections effectively deal with vanishing gradients",
    "30-layer nets on CIFAR-100. (a) Mean gradient norm with respect to layer activities at the start of epochs 0, 1, "
    "2: no decay toward lower layers for Residual and ResMalInit, fast decay for Plain and BiasReg (almost identical "
    "at epoch 0), none for BiasReg+BN. (b) BiasReg+BN approaches Residual in training accuracy.",
    groups, CLAIMS,
    [Layers("meters/grad", "mean ‖∂ℓ_n/∂x_l‖", epochs=(0, 1, 2), log=True, title="gradient norms, epochs 0/1/2"),
     Curve("train_acc", "training accuracy (%)", percent=True, title="CIFAR-100")],
    notes=lambda preset: ("Gradient norms are per-example (see analysis/meters.py); 'epoch e' is the row after e "
                          "epochs of training, so epoch 0 is the untrained net. BiasReg+BN puts one batch norm on the "
                          "pre-activation of the middle hidden layer (15 of 30). The meters run in eval mode "
                          "(analysis/meters.py), where an untrained batch-norm layer (running mean 0, variance 1) is "
                          "the identity, so at epoch 0 BiasReg+BN's gradient profile is BiasReg's by construction; "
                          "the paper's Keras measurement may have used batch statistics. We saw this in the first "
                          "quick run and added the epoch-1 row then; the epoch-0 row stays as declared."))
