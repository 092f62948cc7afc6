"""The nets and data sets the command line names: its options' values as models.build and data configs.

    ARCHS         the CLI's net names: (model arch, skip)
    model_config  the model config (a TrainConfig's `model`) of parsed model options (and their data set, for
                  BiasReg); models.training.build_config adds what the data and the run give to build it
    configs       (model config, data config) of parsed model and data options, checked by a trial
                  build and against the machine's memory before anything large is allocated
    run_name      the default run folder name of `train`: the net's CLI name and every variant it carries
    parse_widths  --widths' text as the conv nets' channels per stage

Options are a dict of parsed values keyed by the option's name (`arch`, `depth`, `reg_mu`, ...),
as click gives them; none of this needs click. A combination that names no net (a conv net with
--pca, BiasReg on a data set without the paper's targets, k larger than the width) is a
ValueError of one sentence: OptionError for the clashes found here, the builder's own otherwise.
Run names (and so every run folder `train` makes by default) must never change.
"""
ARCHS = {   # CLI name -> (model arch, skip)
    "plain": ("mlp", "plain"), "residual": ("mlp", "residual"), "hyperres": ("mlp", "hyperres"),
    "conv-plain": ("conv", "plain"), "conv-residual": ("conv", "residual"),
}
REGULARIZERS = ("none", "biasreg", "biasl2")


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
