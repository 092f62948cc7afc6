"""`python cli.py train`: one run of any of the paper's networks, with a progress bar and a summary."""
import json
import os

import click
from click.core import ParameterSource

from .options import data_options, model_options, configs, run_name

# Options that may differ when a run is resumed: where it runs, and how long.
RESUMABLE = {"out", "resume", "device", "epochs", "data_dir", "download"}


@click.command()
@model_options
@data_options
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
def train(ctx, epochs, batch_size, lr, seed, device, dtype, out, resume, **params):
    """Train one network with Adam (the paper's settings by default) and record it in a run folder."""
    import minigrad
    from common.files import read_jsonl
    from data import DataError
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
        changed = [name for name in ctx.params if name not in RESUMABLE and _given(ctx, name)]
        if changed:
            flags = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise click.UsageError(f"a resumed run keeps its saved settings; drop {flags} "
                                   "(only --epochs, --device and --data-dir may change)")
        with open(path) as f:
            saved = json.load(f)
        saved.pop("data_info", None)
        config = TrainConfig.from_dict(saved)
        config.epochs, config.device = epochs if _given(ctx, "epochs") else config.epochs, device
        if params["data_dir"] is not None:
            config.data["root"] = params["data_dir"]
        config.data["download"] = params["download"]
    else:
        model, data = configs(params)
        config = TrainConfig(model=model, data=data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             dtype=dtype, device=device)
        out = out or os.path.join("runs", run_name(params["arch"], params["depth"], params["dataset"], seed, model))

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
