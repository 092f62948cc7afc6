"""`python cli.py spectrum` and `python cli.py singularities`: look at a trained run or a fresh net.

Both take either a run folder (`--run runs/NAME`: its config and last checkpoint)
or the same model and data flags as `train` (a freshly initialized net). The data
subset is the first `--samples` training examples (the originals, before the
added mirrors; CIFAR's files are already in random order), fixed for the whole
computation, and its size is recorded in every result.
"""
import os

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from training.options import configs, data_options, model_options

METHODS = ("exact", "moments", "slq")


def _source_options(f):
    f = click.option("--run", "run_dir", type=click.Path(file_okay=False), default=None,
                     help="A run folder: use its config and last checkpoint (the model/data flags are then ignored).")(f)
    f = click.option("--samples", type=click.IntRange(1), default=1024, show_default=True,
                     help="Training examples the measurement uses (the first ones, fixed).")(f)
    f = click.option("--seed", type=int, default=0, show_default=True,
                     help="Initial weights of a fresh net, and the probe vectors.")(f)
    f = click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")(f)
    f = click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True,
                     help="Precision of the model during the measurement (a run's weights are cast).")(f)
    return data_options(model_options(f))


def _load(run_dir, samples, seed, device, dtype, params):
    """(model, x, labels, description) from a run folder or from fresh model/data flags."""
    import minigrad
    from data import DataError
    from training import RunError, TrainConfig, load_run, prepare
    try:
        minigrad.get_device(device)
        if run_dir:
            config, data, model, epoch = load_run(run_dir, device=device, data_root=params["data_dir"],
                                                  dtype=dtype)
            what = f"{run_dir} (epoch {epoch})"
        else:
            model_config, data_config = configs(params)
            config = TrainConfig(model=model_config, data=data_config, seed=seed, dtype=dtype, device=device)
            data, model = prepare(config)
            what = f"fresh {params['arch']} net (seed {seed})"
    except (DataError, RunError, minigrad.DeviceError) as e:
        raise click.ClickException(str(e))
    n = min(samples, len(data.train_y))
    return model, data.train_x[:n], data.train_y[:n], what


def _bar(console):
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console)


@click.command()
@_source_options
@click.option("--method", type=click.Choice(METHODS), default="slq", show_default=True,
              help="exact: dense Hessian + eigh (small nets); moments: the paper's Skilling moments + mixture fit; "
                   "slq: stochastic Lanczos quadrature.")
@click.option("--probes", type=click.IntRange(1), default=10, show_default=True, help="Random probe vectors.")
@click.option("--steps", type=click.IntRange(1), default=100, show_default=True, help="Lanczos steps per probe (slq).")
@click.option("--window", type=float, default=None, help="Half-width of the degenerate window (default 3e-3).")
@click.option("--batch-size", type=click.IntRange(1), default=1024, show_default=True,
              help="Examples per Hessian-vector product (results are weighted by batch size).")
@click.option("--penalty/--no-penalty", default=True, show_default=True,
              help="Include the regularizer's curvature (BiasReg) in the Hessian.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where to write result.json and density.png (default: results/spectrum/<method>).")
def spectrum(run_dir, samples, seed, device, dtype, method, probes, steps, window, batch_size, penalty, out, **params):
    """Hessian eigenvalue spectrum of the training loss: fractions, indices, extremes and a density plot."""
    from common.files import write_json
    from .hessian import HessianOperator
    from .plots import plot_density
    from .window import WINDOW

    window = WINDOW if window is None else window
    if not window > 0:
        raise click.BadParameter("must be positive", param_hint="--window")
    model, x, y, what = _load(run_dir, samples, seed, device, dtype, params)
    operator = HessianOperator(model, x, y, batch_size=batch_size, penalty=penalty)
    console = Console()
    with _bar(console) as bar:
        if method == "exact":
            from .exact import LIMIT, exact_spectrum
            if operator.dim > LIMIT:
                raise click.ClickException(f"the exact method needs a dense {operator.dim}x{operator.dim} Hessian; "
                                           "use --method slq or moments for a net this size")
            task = bar.add_task("Hessian columns", total=operator.dim)
            result = exact_spectrum(operator, window=window, progress=lambda *_: bar.advance(task))
        elif method == "moments":
            from .moments import moment_spectrum
            result = moment_spectrum(operator, probes=probes, seed=seed, window=window).to_dict()
        else:
            from .slq import slq_spectrum
            task = bar.add_task("Lanczos steps", total=probes * steps)
            result = slq_spectrum(operator, steps=steps, probes=probes, seed=seed, window=window,
                                  progress=lambda *_: bar.advance(task))
    result["estimator"] = result.get("method")
    result.update(method=method, source=what)
    out = out or os.path.join("results", "spectrum", method)
    write_json(os.path.join(out, "result.json"), result)
    plot_density(result, os.path.join(out, "density.png"), title=f"{method}: {what}")
    console.print(_spectrum_table(result))
    console.print(f"written to {out}/result.json and {out}/density.png")


def _spectrum_table(result):
    fr = result["fractions"]
    table = Table(title=f"{result['method']} spectrum of {result['source']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    info = result["operator"]
    rows = [("parameters", f"{info['dim']:,}"), ("data subset", f"{info['n_samples']:,} examples"),
            ("degenerate fraction (|λ| ≤ w)", f"{fr['degenerate']:.4f}"),
            ("negative fraction (λ < -w)", f"{fr['negative']:.4f}"), ("window w", f"{fr['window']:g}")]
    rows += [(f"{name}", ", ".join(f"{v:.4g}" for v in result[name])) for name in ("top", "bottom") if name in result]
    for row in rows:
        table.add_row(*row)
    return table


@click.command()
@_source_options
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where to write meters.json and meters.png (default: results/singularities).")
def singularities(run_dir, samples, seed, device, dtype, out, **params):
    """Distance to the singular manifolds, per hidden layer: norms, overlaps, zero responses, dependence, gradients."""
    from common.files import write_json
    from .meters import all_meters
    from .plots import plot_meters

    model, x, y, what = _load(run_dir, samples, seed, device, dtype, params)
    result = all_meters(model, x, y)
    result["source"] = what
    out = out or os.path.join("results", "singularities")
    write_json(os.path.join(out, "meters.json"), result)
    plot_meters(result, os.path.join(out, "meters.png"), title=what)
    console = Console()
    console.print(_meters_table(result))
    console.print(f"written to {out}/meters.json and {out}/meters.png")


def _meters_table(result):
    from .plots import meter_panels
    panels = meter_panels(result)
    table = Table(title=f"singularity meters of {result['source']} ({result['n_samples']} examples)")
    table.add_column("layer", justify="right")
    for name, _ in panels:
        table.add_column(name, justify="right")
    depth = max(len(meter["layers"]) for _, meter in panels)
    for layer in range(depth):
        table.add_row(str(layer + 1), *[_cell(meter["layers"], layer) for _, meter in panels])
    table.add_row("mean", *[f"{meter['mean']:.4g}" for _, meter in panels])
    return table


def _cell(values, i):
    return "" if i >= len(values) or values[i] is None else f"{values[i]:.4g}"


@click.command("validate-spectra")
@click.option("--data-dir", default=None, help="Folder holding the CIFAR tarballs.")
@click.option("--out", type=click.Path(file_okay=False), default=os.path.join("results", "fig_s3"), show_default=True)
@click.option("--quick", is_flag=True, hidden=True, help="Tiny synthetic settings (for tests).")
def validate_spectra(data_dir, out, quick):
    """The Fig S3 analogue: exact vs mixture-fit vs SLQ fractions on 10x16 small nets (settings in analysis/validation.py)."""
    from data import DataError
    from training.display import RichDisplay
    from . import validation
    from .plots import plot_validation

    display = RichDisplay()
    try:
        rows = validation.run(out, validation.QUICK if quick else validation.SETTINGS, data_dir, progress=display)
    except DataError as e:
        raise click.ClickException(str(e))
    finally:
        display.close()
    plot_validation(rows, os.path.join(out, "fig_s3.png"))
    table = Table(title="degenerate / negative fractions: exact, mixture fit (paper), SLQ")
    for column in ("net", "epoch", "train acc", "exact deg", "mixture deg", "SLQ deg", "exact neg", "mixture neg",
                   "SLQ neg"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(f"{r['arch']} s{r['seed']}", str(r["epoch"]), f"{r['train_acc']:.1%}",
                      *[f"{r[f'{m}_{k}']:.4f}" for k in ("degenerate", "negative") for m in validation.METHODS])
    display.console.print(table)
    display.console.print(f"written to {out}/fig_s3.json and {out}/fig_s3.png")
