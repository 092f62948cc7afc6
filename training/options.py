"""Command-line options shared by every command that builds a model and loads data.

`train` creates a run from them; `spectrum` and `singularities` build a fresh net
from the same flags when they are not given a run folder. Declaring each option
once keeps the three commands' flags identical.
"""
import click

ARCHS = {   # CLI name -> (model arch, skip)
    "plain": ("mlp", "plain"), "residual": ("mlp", "residual"), "hyperres": ("mlp", "hyperres"),
    "conv-plain": ("conv", "plain"), "conv-residual": ("conv", "residual"),
}
REGULARIZERS = ("none", "biasreg", "biasl2")
SKIP_SCALES = ("none", "branch", "average")      # models/mlp.py: the fidelity options (beyond the paper)
BRANCH_INITS = ("glorot", "small", "skipinit")


def model_config(p):
    """The models.build config described by the parsed model options `p` (and p["dataset"] for BiasReg)."""
    arch, depth, width, blocks, widths, dataset = p["arch"], p["depth"], p["width"], p["blocks"], p["widths"], p["dataset"]
    skip_matrix, hyper_matrix, init, bn_layer = p["skip_matrix"], p["hyper_matrix"], p["init"], p["bn_layer"]
    reg, reg_mu, reg_sigma, reg_lambda = p["reg"], p["reg_mu"], p["reg_sigma"], p["reg_lambda"]
    skip_scale, branch_init = p.get("skip_scale", "none"), p.get("branch_init", "glorot")
    kind, skip = ARCHS[arch]
    if kind == "conv" and (skip_scale != "none" or branch_init != "glorot"):
        raise click.UsageError("--skip-scale and --branch-init apply only to the fully connected nets")
    if kind == "conv":
        config = {"arch": "conv", "skip": skip, "blocks": blocks, "widths": list(widths)}
        if init != "glorot_normal":
            config["init"] = init
    else:
        config = {"arch": "mlp", "skip": skip, "depth": depth, "width": width, "init": init}
    if skip_matrix:
        config["skip_matrix"] = skip_matrix
    if hyper_matrix:
        config["hyper_matrix"] = hyper_matrix
    if reg != "none":
        if reg == "biasl2":
            config["bias_reg"] = "l2"
        elif reg_mu is not None or reg_sigma is not None:
            if reg_mu is None or reg_sigma is None:
                raise click.UsageError("give both --reg-mu and --reg-sigma, or neither (the paper's values for the data set)")
            config["bias_reg"] = [reg_mu, reg_sigma]
        elif dataset in ("cifar10", "cifar100"):
            config["bias_reg"] = dataset
        else:
            raise click.UsageError(f"BiasReg on {dataset} needs --reg-mu and --reg-sigma (the paper gives them "
                                  "only for cifar10 and cifar100)")
        if reg_lambda is not None:
            config["bias_lambda"] = reg_lambda
    if kind == "conv":            # the conv nets take the Fig 5 variants (init, BiasReg) but none of the MLP's others
        return config
    if bn_layer is not None:
        config["bn_layer"] = bn_layer
    if skip_scale != "none":
        config["skip_scale"] = skip_scale
    if branch_init != "glorot":
        config["branch_init"] = branch_init
    return config


def run_name(arch, depth, dataset, seed, model):
    parts = [arch, f"d{depth}" if model["arch"] == "mlp" else f"b{model['blocks']}"]
    for key in ("skip_matrix", "hyper_matrix"):
        if key in model:
            parts.append(str(model[key]))
    if model.get("init") == "malicious":
        parts.append("malinit")
    if "bias_reg" in model:
        parts.append("biasl2" if model["bias_reg"] == "l2" else "biasreg")
    if "bn_layer" in model:
        parts.append(f"bn{model['bn_layer']}")
    if "skip_scale" in model:
        parts.append(f"scale-{model['skip_scale']}")
    if "branch_init" in model:
        parts.append(f"init-{model['branch_init']}")
    return "-".join(parts + [dataset, f"s{seed}"])


def _widths(ctx, param, value):
    try:
        widths = tuple(int(w) for w in value.split(","))
    except ValueError:
        raise click.BadParameter("give channel widths as integers separated by commas, e.g. 16,32,64")
    if not widths or min(widths) < 1:
        raise click.BadParameter("channel widths must be positive")
    return widths


MODEL_OPTIONS = [
    click.option("--arch", type=click.Choice(list(ARCHS)), default="plain", show_default=True,
                 help="Network: the paper's fully connected nets, or the conv nets (beyond the paper)."),
    click.option("--depth", type=click.IntRange(1), default=30, show_default=True, help="Hidden layers (MLPs)."),
    click.option("--width", type=click.IntRange(1), default=128, show_default=True, help="Units per hidden layer."),
    click.option("--skip-matrix", default=None, help="Residual skip: identity, ortho (dense orthogonal), k<N> "
                 "(N orthonormal vectors, e.g. k32), beta<value> (Supp. Note 6, e.g. beta0.01)."),
    click.option("--hyper-matrix", default=None, help="Hyper-residual Q_k type (default: the paper's k32 at width 128)."),
    click.option("--init", type=click.Choice(["glorot_normal", "malicious"]), default="glorot_normal", show_default=True,
                 help="malicious: subtract I from the hidden-to-hidden weights (residual nets)."),
    click.option("--reg", type=click.Choice(REGULARIZERS), default="none", show_default=True,
                 help="biasreg: random per-unit bias targets (the paper's mu, sigma); biasl2: targets 0."),
    click.option("--reg-mu", type=float, default=None, help="BiasReg target mean (default: the paper's for the data set)."),
    click.option("--reg-sigma", type=float, default=None, help="BiasReg target standard deviation."),
    click.option("--reg-lambda", type=float, default=None, help="Penalty strength (default 1e-3, see models/objective.py)."),
    click.option("--bn-layer", type=int, default=None, help="Put one batch-norm layer at this hidden layer (15 for BiasReg+BN)."),
    click.option("--skip-scale", type=click.Choice(list(SKIP_SCALES)), default="none", show_default=True,
                 help="Residual/hyperres (beyond the paper): branch = ReLU branch x 1/sqrt(depth); "
                 "average = each skip sum divided by its number of terms."),
    click.option("--branch-init", type=click.Choice(list(BRANCH_INITS)), default="glorot", show_default=True,
                 help="Residual/hyperres (beyond the paper): small = W_l x 1/sqrt(depth) for l >= 1; "
                 "skipinit = a learnable gain 0 on each branch."),
    click.option("--blocks", type=click.IntRange(1), default=3, show_default=True, help="Conv nets: blocks per stage."),
    click.option("--widths", default="16,32,64", show_default=True, callback=_widths, help="Conv nets: channels per stage.")
]
DATA_OPTIONS = [
    click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "synthetic"]), default="cifar100", show_default=True),
    click.option("--labels", type=click.Choice(["coarse", "fine"]), default="coarse", show_default=True,
                 help="CIFAR-100 labels: the paper uses the 20 coarse ones."),
    click.option("--data-dir", default=None, help="Folder holding the CIFAR tarballs "
                 "(default: $SKIP_SINGULARITIES_DATA, else ~/.cache/skip-singularities)."),
    click.option("--download/--no-download", default=True, show_default=True,
                 help="Fetch a missing CIFAR tarball from the official address (MD5-checked)."),
    click.option("--mirror/--no-mirror", default=True, show_default=True,
                 help="Add each training image's horizontal mirror (the paper's augmentation)."),
    click.option("--preprocess", type=click.Choice(["standardize", "center", "unit", "raw"]), default="standardize",
                 show_default=True, help="Input preprocessing (not stated in the paper)."),
    click.option("--pca", type=click.IntRange(1), default=None, help="Project inputs on this many principal components "
                 "(128 for the small nets).")
]


def _apply(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


model_options = _apply(MODEL_OPTIONS)
data_options = _apply(DATA_OPTIONS)


def configs(params):
    """(model config, data config) from the parsed model and data options; one clear sentence when they clash."""
    from models import build
    p = params
    if p["arch"].startswith("conv") and p["pca"]:
        raise click.UsageError("--pca gives vectors; the conv nets need images")
    model = model_config(p)
    try:   # a bad combination (k larger than the width, a BN layer past the depth) fails here, in one line
        build(dict(model, **({"inputs": 8} if model["arch"] == "mlp" else {}), classes=2), seed=0)
    except ValueError as e:
        raise click.UsageError(str(e))
    data = {"name": p["dataset"], "root": p["data_dir"], "labels": p["labels"], "mirror": p["mirror"],
            "preprocess": p["preprocess"], "pca": p["pca"], "flatten": not p["arch"].startswith("conv"),
            "download": p["download"]}
    return model, data
