"""Fig 3 under the two readings that train: scaled skips and SkipInit (ours, declared before its runs).

As stated (fig3.py), the residual and hyper-residual nets' activations grow geometrically
with depth and the hyper-residual net does not train. Two readings a reader could have
meant keep a deep sum's scale fixed (fidelity.py, docs/guide.md): scaled skips (the residual
branch × 1/√depth; each hyper-residual sum divided by its number of summands) and SkipInit
(a learnable gain per skip branch, starting at 0). This figure runs Fig 3's residual and
hyper-residual nets under each, beside the stated plain net (Fig 3's own runs, which no
skip reading changes), and checks Fig 3's claims under each reading. Seeds and epochs are
Fig 3's, so at the quick preset these are the fidelity grid's cells.
"""
from ..reproduction.spec import Curve, Figure, Layers
from . import fig3
from .common import INDEX_NOTE, fitted_spectra

READINGS = {"scaled skips": {"Residual": {"skip_scale": "branch"}, "Hyperres": {"skip_scale": "average"}},
            "SkipInit": {"Residual": {"branch_init": "skipinit"}, "Hyperres": {"branch_init": "skipinit"}}}


def label(net, reading):
    return net if net == "Plain" else f"{net} ({reading})"


def groups(preset):
    out = {"Plain": fig3.groups(preset, {"Plain": fig3.NETS["Plain"]})["Plain"]}
    for reading, options in READINGS.items():
        for net in ("Residual", "Hyperres"):
            out[label(net, reading)] = fig3.groups(preset, {net: {**fig3.NETS[net], **options[net]}})[net]
    return out


def claims(preset=None):
    return [claim for reading in READINGS
            for claim in fig3.claims(prefix=f"{reading}: ", label=lambda g, r=reading: label(g, r))]


FIGURE = Figure(
    "fig3-readings", "Fig 3 under the readings that train: scaled skips and SkipInit",
    "Not a figure of the paper: Fig 3's claims (train accuracy Hyperres > Residual > Plain; degeneracy ordered the "
    "other way) for the residual and hyper-residual nets under two readings that keep a deep sum's scale fixed, "
    "declared in analysis/figures/readings.py before any of its runs.",
    groups, claims,
    [Curve("train_acc", "training accuracy (%)", percent=True, title="training accuracy"),
     Curve("hessian/degeneracy", "degeneracy index", title="degeneracy index"),
     Curve("hessian/negativity", "negativity index", title="negativity index"),
     fitted_spectra(),
     Layers("meters/rms", "RMS of layer output", epochs=(0,), log=True, title="activation scale at init")],
    notes=lambda preset: __doc__.split("\n\n", 1)[1].strip() + " " + INDEX_NOTE, reuses=True)
