"""Ours: the activation scale of every architecture as the paper states it, at init and during training.

No runs of its own: it reads the per-layer RMS (analysis/meters.py, activation_scale) that every run records,
from Fig 3's, Fig 5's, Fig 6's and Fig 7's runs (CIFAR-100).
"""
from ..reproduction.claims import Order, Range
from ..reproduction.spec import Curve, Figure, Layers
from . import fig3, fig5, fig6, fig7


def groups(preset):
    f3, f5, f6 = fig3.groups(preset), fig5.groups(preset, ("cifar100",)), fig6.groups(preset)
    f7 = fig7.groups(preset)
    return {"20-layer Plain": f3["Plain"], "20-layer Residual": f3["Residual"], "20-layer Hyperres": f3["Hyperres"],
            "30-layer Plain": f5[fig5.label("Plain", "cifar100")],
            "30-layer Residual": f5[fig5.label("Residual", "cifar100")],
            "30-layer ResMalInit": f5[fig5.label("ResMalInit", "cifar100")],
            "30-layer BiasReg+BN": f6["BiasReg+BN"],
            "30-layer dense ortho.": f7[fig7.label(fig7.DENSE, "cifar100")]}


GROWTH = "meters/rms/growth_last_first"
CLAIMS = [
    Order("(ours) At init the RMS grows with depth fastest in Hyperres, then Residual, and shrinks in Plain (20 layers)",
          GROWTH, ("20-layer Hyperres", "20-layer Residual", "20-layer Plain"), at=0),
    Range("(ours) Plain nets shrink activations at init (last / first hidden layer RMS < 1)", GROWTH,
          ("20-layer Plain", "30-layer Plain"), at=0, low=0.0, high=1.0),
    Range("(ours) The growth of residual-type nets is still over 10x after training (last epoch)", GROWTH,
          ("20-layer Residual", "20-layer Hyperres", "30-layer Residual", "30-layer dense ortho."), at="last",
          low=10.0, high=float("inf")),
    Order("(ours) Malicious init (W − I) tames the residual growth: Residual > ResMalInit at init", GROWTH,
          ("30-layer Residual", "30-layer ResMalInit"), at=0),
]
TWENTY = ("20-layer Plain", "20-layer Residual", "20-layer Hyperres")
THIRTY = ("30-layer Plain", "30-layer Residual", "30-layer ResMalInit", "30-layer BiasReg+BN", "30-layer dense ortho.")

FIGURE = Figure(
    "activation", "Activation scale per layer (beyond the paper)",
    "The paper never discusses activation scale. As stated (skip after the ReLU, no normalization, Glorot normal), "
    "the plain net's activations shrink by about x0.71 per layer at init and the residual and hyper-residual nets' "
    "grow geometrically; this figure shows it for every architecture, at init and after training.",
    groups, CLAIMS,
    [Layers("meters/rms", "RMS of layer output", epochs=(0, "last"), groups=TWENTY, log=True,
            title="20 layers (Fig 3), init and last epoch"),
     Layers("meters/rms", "RMS of layer output", epochs=(0, "last"), groups=THIRTY, log=True,
            title="30 layers (Figs 5-7), init and last epoch"),
     Curve(GROWTH, "RMS last / first hidden layer", log=True, title="growth during training"),
     Curve("meters/rms/logits", "RMS of the logits", log=True, title="logit scale during training")],
    notes=lambda preset: ("The RMS is over (examples, units) of each hidden layer's output x_l on the first "
                          f"{preset.meter_samples} training examples, in eval mode; 'growth' is the last hidden "
                          "layer's RMS over the first's. The runs are those of Figs 3, 5, 6 and 7 (shared folders)."),
    reuses=True)
