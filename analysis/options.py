"""The options of `spectrum` and `singularities`, as plain data (models.options.Option) the command line builds
its click options from: declared once, here, readable without click.

    SOURCE_OPTIONS         what both measure (analysis/sources.py): a run folder, or the model and data options
                           of `train` for a fresh net; the data subset, the seed, device and precision
    SPECTRUM_OPTIONS       spectrum's: the source, the estimate (analysis/spectra/estimate.py) and its folder
    SINGULARITIES_OPTIONS  singularities': the source and its folder

Where they write by default is analysis/outputs.py's. The options of `reproduce` and `runs pack` live in
analysis/reproduction/options.py, bench's in analysis/bench/, toy's in analysis/toys/, train's in models/options.py.
"""
from models.options import (DATA_OPTIONS, DEVICE, MODEL_OPTIONS, Option, batch_size_option, dtype_option,
                            seed_option)

from .readouts import PROBES, STEPS
from .spectra.blocks import METHODS

SOURCE_OPTIONS = (
    *DATA_OPTIONS, *MODEL_OPTIONS,
    Option("--run", None, "A run folder: use its config and last checkpoint (model/data flags are then ignored); "
           "the result goes into a subfolder of it unless --out is given.", name="run_dir", path="dir"),
    Option("--samples", 1024, "Training examples the measurement uses (the first ones, fixed).", minimum=1),
    seed_option("Initial weights of a fresh net, and the probe vectors."),
    DEVICE,
    dtype_option("float64", "Precision of the model during the measurement (a run's weights are cast)."),
)
SPECTRUM_OPTIONS = (
    *SOURCE_OPTIONS,
    Option("--method", "slq", "exact: dense Hessian + eigh (small nets); moments: the paper's Skilling moments + "
           "mixture fit; slq: stochastic Lanczos quadrature.", choices=METHODS),
    Option("--probes", PROBES, "Random probe vectors.", minimum=1),
    Option("--steps", STEPS, "Lanczos steps per probe (slq).", minimum=1),
    Option("--window", None, "Half-width of the degenerate window (default 3e-3).", type=float, check="positive"),
    batch_size_option(1024, "Examples per Hessian-vector product (results are weighted by batch size)."),
    Option("--penalty/--no-penalty", True, "Include the regularizer's curvature (BiasReg) in the Hessian."),
    Option("--per-layer", None, "The spectrum of each layer's diagonal block of the Hessian and its leakage (how "
           "much of H v leaves the block); writes result.json and per_layer.png into <method>-per-layer/.", flag=True),
    Option("--group", None, "With --per-layer: a named block of layers or parameters (e.g. early=hidden.0,hidden.1) "
           "instead of one block per layer; repeat for more blocks.", name="groups", metavar="NAME=LAYER[,LAYER...]",
           multiple=True, parse=("analysis.spectra.estimate", "parse_groups")),
    Option("--out", None, "Where to write result.json and density.png (default: RUN/spectrum/<method> with --run, "
           "else results/spectrum/<net>/<method>, <net> the run name of train and a hash of the net); an earlier "
           "result there is replaced, and the command says so.", path="dir"),
)
SINGULARITIES_OPTIONS = (
    *SOURCE_OPTIONS,
    Option("--out", None, "Where to write meters.json and meters.png (default: RUN/singularities with --run, else "
           "results/singularities/<net>, <net> the run name of train and a hash of the net); an earlier result there "
           "is replaced, and the command says so.", path="dir"),
)
