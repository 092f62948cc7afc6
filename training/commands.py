"""`python cli.py train`: one run of any of the paper's networks, with a progress bar and a summary."""
import json
import os

import click
from click.core import ParameterSource

ARCHS = {   # CLI name -> (model arch, skip)
    "plain": ("mlp", "plain"), "residual": ("mlp", "residual"), "hyperres": ("mlp", "hyperres"),
    "conv-plain": ("conv", "plain"), "conv-residual": ("conv", "residual"),
}
REGULARIZERS = ("none", "biasreg", "biasl2")
# Options that may differ when a run is resumed: where it runs, and how long.
RESUMABLE = {"out", "resume", "device", "epochs", "data_dir", "download"}


def model_config(arch, depth, width, skip_matrix, hyper_matrix, init, reg, reg_mu, reg_sigma, reg_lambda,
                 bn_layer, blocks, widths, dataset):
    kind, skip = ARCHS[arch]
    if kind == "conv":
        return {"arch": "conv", "skip": skip, "blocks": blocks, "widths": list(widths)}
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
    if bn_layer is not None:
        config["bn_layer"] = bn_layer
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
    return "-".join(parts + [dataset, f"s{seed}"])


def _widths(ctx, param, value):
    try:
        widths = tuple(int(w) for w in value.split(","))
    except ValueError:
        raise click.BadParameter("give channel widths as integers separated by commas, e.g. 16,32,64")
    if not widths or min(widths) < 1:
        raise click.BadParameter("channel widths must be positive")
    return widths


@click.command()
@click.option("--arch", type=click.Choice(list(ARCHS)), default="plain", show_default=True,
              help="Network: the paper's fully connected nets, or the conv nets (beyond the paper).")
@click.option("--depth", type=click.IntRange(1), default=30, show_default=True, help="Hidden layers (MLPs).")
@click.option("--width", type=click.IntRange(1), default=128, show_default=True, help="Units per hidden layer.")
@click.option("--skip-matrix", default=None, help="Residual skip: identity, ortho (dense orthogonal), k<N> "
              "(N orthonormal vectors, e.g. k32), beta<value> (Supp. Note 6, e.g. beta0.01).")
@click.option("--hyper-matrix", default=None, help="Hyper-residual Q_k type (default: the paper's k32 at width 128).")
@click.option("--init", type=click.Choice(["glorot_normal", "malicious"]), default="glorot_normal", show_default=True,
              help="malicious: subtract I from the hidden-to-hidden weights (residual nets).")
@click.option("--reg", type=click.Choice(REGULARIZERS), default="none", show_default=True,
              help="biasreg: random per-unit bias targets (the paper's mu, sigma); biasl2: targets 0.")
@click.option("--reg-mu", type=float, default=None, help="BiasReg target mean (default: the paper's for the data set).")
@click.option("--reg-sigma", type=float, default=None, help="BiasReg target standard deviation.")
@click.option("--reg-lambda", type=float, default=None, help="Penalty strength (default 1e-3, see models/objective.py).")
@click.option("--bn-layer", type=int, default=None, help="Put one batch-norm layer at this hidden layer (15 for BiasReg+BN).")
@click.option("--blocks", type=click.IntRange(1), default=3, show_default=True, help="Conv nets: blocks per stage.")
@click.option("--widths", default="16,32,64", show_default=True, callback=_widths, help="Conv nets: channels per stage.")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "synthetic"]), default="cifar100", show_default=True)
@click.option("--labels", type=click.Choice(["coarse", "fine"]), default="coarse", show_default=True,
              help="CIFAR-100 labels: the paper uses the 20 coarse ones.")
@click.option("--data-dir", default=None, help="Folder holding the CIFAR tarballs "
              "(default: $SKIP_SINGULARITIES_DATA, else ~/.cache/skip-singularities).")
@click.option("--download/--no-download", default=True, show_default=True,
              help="Fetch a missing CIFAR tarball from the official address (MD5-checked).")
@click.option("--mirror/--no-mirror", default=True, show_default=True,
              help="Add each training image's horizontal mirror (the paper's augmentation).")
@click.option("--preprocess", type=click.Choice(["standardize", "center", "unit", "raw"]), default="standardize",
              show_default=True, help="Input preprocessing (not stated in the paper).")
@click.option("--pca", type=click.IntRange(1), default=None, help="Project inputs on this many principal components "
              "(128 for the small nets).")
@click.option("--epochs", type=click.IntRange(0), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True)
@click.option("--lr", type=float, default=5e-4, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Initial weights and minibatch order.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default: runs/<arch>-<depth>-...-<dataset>-s<seed>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.pass_context
def train(ctx, arch, depth, width, skip_matrix, hyper_matrix, init, reg, reg_mu, reg_sigma, reg_lambda, bn_layer,
          blocks, widths, dataset, labels, data_dir, download, mirror, preprocess, pca, epochs, batch_size, lr, seed, device,
          dtype, out, resume):
    """Train one network with Adam (the paper's settings by default) and record it in a run folder."""
    import minigrad
    from data import DataError
    from models import build
    from common.files import read_jsonl
    from .display import RichDisplay, summary_table
    from .loop import CONFIG, Diverged, RunError, TrainConfig, train as run_training

    try:
        minigrad.get_device(device)
    except minigrad.DeviceError as e:
        raise click.ClickException(str(e))

    if resume:
        if out is None:
            raise click.UsageError("--resume needs --out: the folder of the run to continue")
        path = os.path.join(out, CONFIG)
        if not os.path.exists(path):
            raise click.ClickException(f"nothing to resume in {out}: it has no {CONFIG}")
        changed = [name for name in ctx.params if name not in RESUMABLE
                   and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
        if changed:
            flags = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise click.UsageError(f"a resumed run keeps its saved settings; drop {flags} "
                                   "(only --epochs, --device and --data-dir may change)")
        with open(path) as f:
            saved = json.load(f)
        saved.pop("data_info", None)
        config = TrainConfig.from_dict(saved)
        config.epochs, config.device = epochs if _given(ctx, "epochs") else config.epochs, device
        if data_dir is not None:
            config.data["root"] = data_dir
        config.data["download"] = download
    else:
        if arch.startswith("conv") and pca:
            raise click.UsageError("--pca gives vectors; the conv nets need images")
        model = model_config(arch, depth, width, skip_matrix, hyper_matrix, init, reg, reg_mu, reg_sigma,
                             reg_lambda, bn_layer, blocks, widths, dataset)
        try:   # a bad combination (k larger than the width, a BN layer past the depth) fails here, in one line
            build(dict(model, **({"inputs": 8} if model["arch"] == "mlp" else {}), classes=2), seed=0)
        except ValueError as e:
            raise click.UsageError(str(e))
        data = {"name": dataset, "root": data_dir, "labels": labels, "mirror": mirror, "preprocess": preprocess,
                "pca": pca, "flatten": not arch.startswith("conv"), "download": download}
        config = TrainConfig(model=model, data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             dtype=dtype, device=device)
        out = out or os.path.join("runs", run_name(arch, depth, dataset, seed, model))

    display = RichDisplay()
    try:
        run_training(config, out, resume=resume, progress=display)
    except (DataError, RunError, Diverged, minigrad.DeviceError) as e:
        raise click.ClickException(str(e))
    finally:
        display.close()
    display.console.print(summary_table(read_jsonl(os.path.join(out, "metrics.jsonl")), f"{out}"))


def _given(ctx, name):
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
