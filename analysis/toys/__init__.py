"""The paper's toy models of singularities: two hidden units (Fig 2), linear modes (Fig S4), deep linear modes (Fig S5).

Each module's `run(out_dir)` writes its PNG figures and a JSON file of the numbers behind
them and returns that summary; `summary_rows(summary)` says what the command line prints.
TOYS names the `toy` commands: the modules each runs and its help line; TOY_OPTIONS their options, as plain
data (models.options.Option) the command line builds its click options from.
"""
import importlib
import os

from models.options import Option

TOYS = {    # command -> (its modules, in the order run; what its help says)
    "two-unit": (("two_unit",), "Two hidden units: overlap/elimination plateaus (Fig 2) and a skip version."),
    "linear": (("linear_modes",), "Three-layer linear nets in the mode picture, plain vs residual (Fig S4)."),
    "deep-linear": (("deep_linear",), "Deep linear single modes: saddles and plain/residual/hyper-residual speed "
                                      "(Fig S5)."),
    "all": (("two_unit", "linear_modes", "deep_linear"), "All of the above."),
}
TOY_OPTIONS = (
    Option("--out", os.path.join("results", "toys"), "Folder for the PNG figures and JSON numbers.", path="dir"),
    Option("--quick", None, "Short runs on coarse grids (for tests).", flag=True, hidden=True),
)


def modules(command):
    """The toy modules the `toy` command `command` runs, in order (imported here, when asked)."""
    return [importlib.import_module(f"{__name__}.{name}") for name in TOYS[command][0]]
