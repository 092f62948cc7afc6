"""The nets and data sets the command line names: its options' values as models.build and data configs.

    ARCHS         the CLI's net names: (model arch, skip)
    model_config  the model config (a TrainConfig's `model`) of parsed model options (and their data set, for
                  BiasReg); models.training.build_config adds what the data and the run give to build it
    configs       (model config, data config) of parsed model and data options, checked by a trial
                  build and against the machine's memory before anything large is allocated
    run_name      the default run folder name of `train`: the net's CLI name and every variant it carries
    parse_widths  --widths' text as the conv nets' channels per stage
    finite, positive  the checks of a float option's value (Option's `check`)
    MODEL_OPTIONS, DATA_OPTIONS, DATA_DIR, DEVICE, TRAIN_OPTIONS
                  the model, data and device options and all of `train`'s, as plain data (Option) that
                  the command line turns into its click options: declared once, readable without click
    seed_option, dtype_option, batch_size_option
                  the --seed, --dtype and --batch-size of a command, its default and help its own
                  (the other commands' options: analysis/options.py, analysis/reproduction/options.py,
                  analysis/bench/, analysis/toys/)

Options are a dict of parsed values keyed by the option's name (`arch`, `depth`, `reg_mu`, ...),
as click gives them; none of this needs click. A combination that names no net (a conv net with
--pca, BiasReg on a data set without the paper's targets, k larger than the width) is a
ValueError of one sentence: OptionError for the clashes found here, the builder's own otherwise.
Run names (and so every run folder `train` makes by default) must never change.
"""
import math
from typing import NamedTuple

from models.mlp import BRANCH_INITS, SKIP_SCALES

ARCHS = {   # CLI name -> (model arch, skip)
    "plain": ("mlp", "plain"), "residual": ("mlp", "residual"), "hyperres": ("mlp", "hyperres"),
    "conv-plain": ("conv", "plain"), "conv-residual": ("conv", "residual"),
}
REGULARIZERS = ("none", "biasreg", "biasl2")


class Option(NamedTuple):
    """One command-line option as data: its flags, default and help, and what its values may be: one of
    `choices`, a number of at least `minimum` (an int, or a float where `type` is float), a folder or file
    (`path` "dir" or "file"), a `type` (float) whose value must pass `check` ("finite" or "positive": the functions
    of those names below; "device": the CLI resolves it), or text that the function `parse` names, (module,
    function), turns into the value.

    name: the parameter's name where it is not the flag's; `flag`: an on/off flag without a value (off unless
    given); `multiple`: the option may be repeated; `envvar`: the variable that gives its value when it is not
    given; `eager`: read before the others; `hidden`: left out of --help."""
    flags: str
    default: object = None
    help: str = None
    choices: tuple = None
    minimum: int = None
    type: object = None
    check: str = None
    parse: tuple = None
    name: str = None
    metavar: str = None
    multiple: bool = False
    flag: bool = False
    path: str = None
    envvar: str = None
    eager: bool = False
    hidden: bool = False


MODEL_OPTIONS = (
    Option("--arch", "plain", "Network: the paper's fully connected nets, or the conv nets (beyond the paper).",
           choices=tuple(ARCHS)),
    Option("--depth", 30, "Hidden layers (MLPs).", minimum=1),
    Option("--width", 128, "Units per hidden layer.", minimum=1),
    Option("--skip-matrix", None, "Residual skip: identity, ortho (dense orthogonal), k<N> "
           "(N orthonormal vectors, e.g. k32), beta<value> (e.g. beta0.01)."),
    Option("--hyper-matrix", None, "Hyper-residual Q_k type (default: the paper's k32 at width 128)."),
    Option("--init", "glorot_normal", "malicious: subtract I from the hidden-to-hidden weights (residual nets).",
           choices=("glorot_normal", "malicious")),
    Option("--reg", "none", "biasreg: random per-unit bias targets (the paper's mu, sigma); biasl2: targets 0.",
           choices=REGULARIZERS),
    Option("--reg-mu", None, "BiasReg target mean (default: the paper's for the data set).", type=float,
           check="finite"),
    Option("--reg-sigma", None, "BiasReg target standard deviation.", type=float, check="positive"),
    Option("--reg-lambda", None, "Penalty strength (default 1e-3).", type=float, check="positive"),
    Option("--bn-layer", None, "Put one batch-norm layer at this hidden layer (15 for BiasReg+BN).", minimum=1),
    Option("--skip-scale", "none", "Residual/hyperres (beyond the paper): branch = ReLU branch x 1/sqrt(depth); "
           "average = each skip sum divided by its number of terms.", choices=SKIP_SCALES),
    Option("--branch-init", "glorot", "Residual/hyperres (beyond the paper): small = W_l x 1/sqrt(depth) for "
           "l >= 1; skipinit = a learnable gain 0 on each branch.", choices=BRANCH_INITS),
    Option("--blocks", 3, "Conv nets: blocks per stage.", minimum=1),
    Option("--widths", "16,32,64", "Conv nets: channels per stage.", parse=("models.options", "parse_widths")),
)
DATA_DIR = Option("--data-dir", None, "Folder holding the CIFAR tarballs "
                  "(default: $SKIP_SINGULARITIES_DATA, else ~/.cache/skip-singularities).")
DATA_OPTIONS = (
    Option("--dataset", "cifar100", "svhn and stl10 are Fig S7's (STL-10 averaged down to 32x32); synthetic needs "
           "no files.", choices=("cifar10", "cifar100", "svhn", "stl10", "synthetic")),
    Option("--labels", "coarse", "CIFAR-100 labels: the paper uses the 20 coarse ones.", choices=("coarse", "fine")),
    DATA_DIR,
    Option("--download/--no-download", True, "Fetch a missing data file from its official address (MD5-checked)."),
    Option("--mirror/--no-mirror", None, "Add each training image's horizontal mirror (the paper's augmentation; "
           "default: on, except for svhn's digits)."),
    Option("--preprocess", "standardize", "Input preprocessing (not stated in the paper).",
           choices=("standardize", "center", "unit", "raw")),
    Option("--pca", None, "Project inputs on this many principal components (128 for the small nets).", minimum=1),
)
DEVICE = Option("--device", "cpu", "cpu, or cuda (cuda:0, ...; needs a GPU and CuPy: from the checkout, "
                "python -m pip install -e \".[cuda]\").", check="device")


def seed_option(help):
    return Option("--seed", 0, help, minimum=0)


def dtype_option(default, help=None):
    return Option("--dtype", default, help, choices=("float32", "float64"))


def batch_size_option(default, help=None):
    return Option("--batch-size", default, help, minimum=1)


TRAIN_OPTIONS = (
    *MODEL_OPTIONS, *DATA_OPTIONS,
    Option("--epochs", 100, minimum=0),
    batch_size_option(500),
    Option("--lr", 5e-4, "Adam learning rate.", type=float, check="positive"),
    seed_option("Initial weights and minibatch order."),
    DEVICE,
    dtype_option("float32"),
    Option("--out", None, "Run folder (default: runs/<arch>-<depth>-...-<dataset>-s<seed>).", path="dir"),
    Option("--resume", None, "Continue the run in --out (default: the folder the other options name) from its last "
           "checkpoint: the options left out are the run's own, those given must agree with them.", flag=True),
    Option("--members", 1, "Train the seeds --seed .. --seed+N-1 together as one seed ensemble (one batched pass; "
           "each run folder as if trained alone). --out is then the folder that holds their run folders (default "
           "runs); with --resume, run the same command again.", minimum=1),
)


class OptionError(ValueError):
    """Options that clash, so that they name no net (one sentence for the user)."""


def model_config(p):
    """The model config (TrainConfig.model: the models.build keys of the net, without its data's inputs and
    classes or the run's seed and dtype) described by the parsed model options `p` (and p["dataset"] for BiasReg)."""
    kind, skip = ARCHS[p["arch"]]
    skip_scale, branch_init = p.get("skip_scale", "none"), p.get("branch_init", "glorot")
    hyper_q_draw = p.get("hyper_q_draw", "per-source")          # the default enters no config, so no run name
    if skip != "hyperres" and hyper_q_draw != "per-source":
        raise OptionError("--hyper-q-draw applies only to the hyper-residual net (--arch hyperres)")
    if kind == "conv" and (skip_scale != "none" or branch_init != "glorot"):
        raise OptionError("--skip-scale and --branch-init apply only to the fully connected nets")
    if kind == "conv":
        config = {"arch": "conv", "skip": skip, "blocks": p["blocks"], "widths": list(p["widths"])}
        if p["init"] != "glorot_normal":
            config["init"] = p["init"]
    else:
        config = {"arch": "mlp", "skip": skip, "depth": p["depth"], "width": p["width"], "init": p["init"]}
    for key in ("skip_matrix", "hyper_matrix"):
        if p[key]:
            config[key] = p[key]
    if p["reg"] != "none":
        config["bias_reg"] = _bias_reg(p)
        if p["reg_lambda"] is not None:
            config["bias_lambda"] = p["reg_lambda"]
    if kind == "conv":            # the conv nets take the Fig 5 variants (init, BiasReg) but none of the MLP's others
        return config
    if p["bn_layer"] is not None:
        config["bn_layer"] = p["bn_layer"]
    if skip_scale != "none":
        config["skip_scale"] = skip_scale
    if branch_init != "glorot":
        config["branch_init"] = branch_init
    if hyper_q_draw != "per-source":
        config["hyper_q_draw"] = hyper_q_draw
    return config


def parse_widths(text):
    """--widths' text, channels per stage separated by commas (16,32,64), as a tuple; a ValueError of one sentence."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise ValueError("give channel widths as integers separated by commas, e.g. 16,32,64") from None
    if not widths or min(widths) < 1:
        raise ValueError("channel widths must be positive")
    return widths


def finite(value):
    """The value of a float option, a ValueError of one sentence unless it is a finite number (check="finite")."""
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return value


def positive(value):
    """The value of a float option, a ValueError of one sentence unless it is a positive finite number."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive finite number, not {value}")
    return value


def _bias_reg(p):
    if p["reg"] == "biasl2":
        return "l2"
    if p["reg_mu"] is not None or p["reg_sigma"] is not None:
        if p["reg_mu"] is None or p["reg_sigma"] is None:
            raise OptionError("give both --reg-mu and --reg-sigma, or neither (the paper's values for the data set)")
        return [p["reg_mu"], p["reg_sigma"]]
    if p["dataset"] in ("cifar10", "cifar100"):
        return p["dataset"]
    raise OptionError(f"BiasReg on {p['dataset']} needs --reg-mu and --reg-sigma (the paper gives them "
                      "only for cifar10 and cifar100)")


def configs(params, command=None, training=False):
    """(model config, data config) from the parsed model and data options; a ValueError of one sentence when
    they clash, when the builder refuses the net, or when the net is too large for the machine (check_memory).

    command, training: the parsed options of the command that asks and whether it trains (check_memory)."""
    from models import build
    if params["arch"].startswith("conv") and params["pca"]:
        raise OptionError("--pca gives vectors; the conv nets need images")
    model = model_config(params)
    data = {"name": params["dataset"], "root": params["data_dir"], "labels": params["labels"],
            "mirror": params["mirror"], "preprocess": params["preprocess"], "pca": params["pca"],
            "flatten": not params["arch"].startswith("conv"), "download": params["download"]}
    # a bad combination (k larger than the width, a BN layer past the depth) fails here, in one line;
    check_memory(model, data, command, training)   # first: the trial build would allocate a net too large
    build(dict(model, **({"inputs": 8} if model["arch"] == "mlp" else {}), classes=2), seed=0)
    return model, data


def check_memory(model, data, command=None, training=False):
    """Refuse (models.memory.TooLarge, a ValueError) a net too large for the machine, before any of it is allocated.

    The batch, precision, device and members are those of `command`, the parsed options of the command
    that asks (None: none given), for training (Adam's state too) or for a measurement on its --samples
    examples."""
    from models.memory import check_fits, data_shape
    given = command or {}
    batch = given.get("batch_size") or (500 if training else given.get("samples") or 1024)
    if not training and given.get("samples"):
        batch = min(batch, given["samples"])
    inputs, classes = data_shape(data)
    check_fits(model, inputs, classes, batch, given.get("dtype") or "float32", given.get("device") or "cpu",
               adam=training, members=given.get("members") or 1)


def run_name(arch, depth, dataset, seed, model):
    """The default run folder name of `train`: the net's CLI name and every variant it carries."""
    parts = [arch, f"d{depth}" if model["arch"] == "mlp" else f"b{model['blocks']}"]
    parts += [str(model[key]) for key in ("skip_matrix", "hyper_matrix") if key in model]
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
    if "hyper_q_draw" in model:
        parts.append(f"q-{model['hyper_q_draw']}")
    return "-".join(parts + [dataset, f"s{seed}"])
