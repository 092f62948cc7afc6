"""Command line of skip-singularities: `python cli.py --help`.

Every command lives here. Its options are plain data (models.options.Option), each declared once
where its code lives (models/options.py, analysis/options.py, analysis/reproduction/options.py,
analysis/bench/, analysis/toys/), and made into click options below. The commands only parse, call
into `analysis/` and `models/`, and draw with rich; the work is done there.

    train          one network, a run folder, a progress bar      (models.training)
    spectrum       the Hessian spectrum of a run or a fresh net   (analysis.spectra)
    singularities  the singularity meters per layer               (analysis.meters)
    reproduce      every figure of the paper, claims checked      (analysis.reproduction)
    runs           carry finished runs between machines (.tar.gz) (analysis.reproduction.archive)
    toy            the paper's toy models                          (analysis.toys)
    bench          engine speed against PyTorch                    (analysis.bench)
"""
import contextlib
import importlib
import os
import time
import warnings

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from analysis.bench import BENCH_OPTIONS
from analysis.options import SINGULARITIES_OPTIONS, SPECTRUM_OPTIONS
from analysis.reproduction.options import PACK_OPTIONS, REPRODUCE_OPTIONS
from analysis.toys import TOY_OPTIONS, TOYS
from models.folders import printable, writable
from models.options import DATA_OPTIONS, MODEL_OPTIONS, TRAIN_OPTIONS, run_name

console = Console()

# ----------------------------------------------------------------------------- options, from their data


def _device(ctx, param, value):
    """--device, resolved here once by minigrad's one resolver: ctx.meta["device"] holds the Device the commands
    pass on; the option keeps the name as given (what a run's config.json records, what a cluster's workers get)."""
    import minigrad
    if ctx.params.get("scheduler"):    # the runs go to a cluster's workers: their devices count, not this machine's
        return value
    try:
        ctx.meta["device"] = minigrad.get_device(value)
    except minigrad.DeviceError as e:
        raise click.BadParameter(str(e))
    return value


def _parsed(module, function):
    """A callback whose value `function` of `module` (imported when called) parses; its ValueError is the
    option's one-sentence error. None (an option not given) stays None."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return getattr(importlib.import_module(module), function)(value)
        except ValueError as e:
            raise click.BadParameter(str(e))
    return callback


def _option(spec):
    """The click option of a models.options.Option (its default shown where it has one)."""
    kwargs = dict(help=spec.help, metavar=spec.metavar, multiple=spec.multiple, envvar=spec.envvar,
                  is_eager=spec.eager, hidden=spec.hidden, **({"is_flag": True} if spec.flag else {}))
    kwargs["type"] = (click.Choice(list(spec.choices)) if spec.choices
                      else (click.FloatRange if spec.type is float else click.IntRange)(spec.minimum)
                      if spec.minimum is not None
                      else click.Path(file_okay=spec.path != "dir", dir_okay=spec.path != "file") if spec.path
                      else spec.type)
    if spec.default is not None:
        kwargs.update(default=spec.default, show_default=True)
    elif not (spec.flag or spec.multiple):      # a flag is off, a repeated option empty, by click's own default
        kwargs["default"] = None
    if spec.check == "device":
        kwargs["callback"] = _device
    elif spec.check or spec.parse:              # a check is a function of models.options, as parse_widths is
        kwargs["callback"] = _parsed(*spec.parse or ("models.options", spec.check))
    return click.option(spec.flags, *[spec.name] if spec.name else [], **kwargs)


def _options(specs):
    """A decorator adding the click options of `specs` (Options), in their order."""
    def decorate(f):
        for spec in reversed(specs):
            f = _option(spec)(f)
        return f
    return decorate


model_options = _options(MODEL_OPTIONS)
data_options = _options(DATA_OPTIONS)


def configs(params):
    """models.options.configs, its memory check sized by the current command's options; a clash is one sentence."""
    from models import options
    ctx = click.get_current_context(silent=True)
    try:
        return options.configs(params, ctx and ctx.params, ctx is not None and ctx.command.name == "train")
    except ValueError as e:
        raise click.UsageError(str(e))


def _user_errors():
    """The exceptions that mean a user mistake (one sentence, no traceback, in any command: _Lab)."""
    import minigrad
    from analysis.reproduction.archive import ArchiveError
    from analysis.reproduction.cluster import ClusterError
    from models.data import DataError
    from models.folders import FolderError
    from models.training import Diverged, RunError
    return DataError, RunError, Diverged, minigrad.DeviceError, FolderError, ArchiveError, ClusterError


# ----------------------------------------------------------------------------- drawing

def _bar(*columns, description="[bold]{task.description}"):
    return RichProgress(TextColumn(description), BarColumn(), MofNCompleteColumn(), *columns, console=console)


class _Counter:
    """Counts the steps of one long computation: a rich bar on a terminal, a plain line per tenth elsewhere."""

    def __init__(self, bar, label, total):
        self.bar, self.label, self.total, self.done = bar, label, total, 0
        self.task = bar.add_task(label, total=total)

    def __call__(self, *_):
        self.done += 1
        self.bar.advance(self.task)
        if not console.is_terminal and (10 * self.done) // self.total > (10 * (self.done - 1)) // self.total:
            console.print(f"{self.label}: {self.done:,}/{self.total:,}")


def training_display():
    """A models.training.Progress drawn as one rich bar over all steps of a run (loss, accuracies, ETA)."""
    from models.training import Progress

    class Display(Progress):
        def __init__(self):
            self.bar = _bar(TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn())
            self.task, self.last = None, ""

        def start(self, config, start_epoch, steps_per_epoch):
            done = max(start_epoch - 1, 0) * steps_per_epoch
            self.bar.start()
            self.task = self.bar.add_task("training", total=config.epochs * steps_per_epoch, completed=done, status="")

        def step(self, epoch, step, loss):
            self.bar.update(self.task, advance=1, description=f"epoch {epoch}", status=f"loss {loss:.4f}  {self.last}")

        def epoch(self, row):
            self.last = f"train {row['train_acc']:.1%}  test {row['test_acc']:.1%}"
            self.bar.update(self.task, status=self.last)
            if not console.is_terminal:
                console.print(f"epoch {row['epoch']}: {self.last} ({row['seconds']:.1f} s)")

        def close(self):
            self.bar.stop()
    return Display()


def _table(title, columns, rows, first_left=True):
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if first_left and i == 0 else "right")
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    return table


def _lines(lines):
    """Lines that name files, printed whole (no wrapping, no markup)."""
    for line in lines:
        console.print(line, soft_wrap=True, markup=False)


def _readout(title, columns, rows, lines=(), written=(), first_left=True, markup=None):
    """A measurement's readout: its first line whole, its table, its other lines, then the files it wrote."""
    _lines(lines[:1])
    console.print(_table(title, columns, rows, first_left))
    for line in lines[1:]:
        console.print(line, markup=markup)
    _lines(written)


# ----------------------------------------------------------------------------- the group

class _Lab(click.Group):
    """The command group: a user mistake (_user_errors) in any command ends in its one sentence, and a result the
    file system refuses to take (a full disk, say) in one naming the folder, instead of a traceback; the file it
    was writing is left as it was."""

    def invoke(self, ctx):
        from models.files import WriteError
        from models.folders import refused
        try:
            return super().invoke(ctx)
        except WriteError as e:
            raise click.ClickException(refused(e)) from None
        except _user_errors() as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Lab, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Skip connections eliminate singularities: experiments on a handwritten autodiff engine."""
    # Warnings meant for users (an unofficial CIFAR tarball, say) read as one line, not as a source location.
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"Warning: {message}\n"


# ----------------------------------------------------------------------------- train

@main.command()
@_options(TRAIN_OPTIONS)
@click.pass_context
def train(ctx, **_):
    """Train one network with Adam (the paper's settings by default) and record it in a run folder.

    Interrupted (Ctrl-C), it prints the command that continues the run: the same one with --resume.
    """
    from analysis.readouts import history_readout, members_readout
    from models.files import read_jsonl
    from models.training import METRICS, train as run_training, train_ensemble
    from models.training.resume import planned_runs

    try:
        plan = planned_runs(ctx.params, {name for name in ctx.params if _given(ctx, name)})
    except ValueError as e:         # the options name no net
        raise click.UsageError(str(e))
    writable(plan.root, make=False)
    with _continued_on_interrupt(ctx, plan.folders), contextlib.closing(training_display()) as display:
        if ctx.params["members"] == 1:
            run_training(plan.configs[0], plan.folders[0], resume=plan.resumes[0], progress=display,
                         device=ctx.meta.get("device"))
        else:
            outcomes = train_ensemble(plan.configs, plan.folders, resume=plan.resumes, progress=display,
                                      device=ctx.meta.get("device"))
    if ctx.params["members"] == 1:
        history = read_jsonl(os.path.join(plan.folders[0], METRICS))
        return console.print(_table(*history_readout(history, plan.folders[0]), first_left=False))
    title, columns, rows, failure = members_readout(plan.configs, outcomes, plan.folders)
    console.print(_table(title, columns, rows))
    if failure:
        raise click.ClickException(failure)


def _given(ctx, name):
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


@contextlib.contextmanager
def _continued_on_interrupt(ctx, folders):
    """On Ctrl-C, print the command that continues the runs in `folders` (click itself says only "Aborted!"):
    models.training.resume.interrupted, of the options given on the command line."""
    from models.training.resume import interrupted
    try:
        yield
    except KeyboardInterrupt:
        words = [((p.opts[0] if ctx.params[p.name] else p.secondary_opts[0]), None) if getattr(p, "is_flag", False)
                 else (p.opts[0], ctx.params[p.name])
                 for p in ctx.command.params if p.name != "resume" and _given(ctx, p.name)]
        click.echo(interrupted(folders, ctx.info_name, words), err=True)
        raise


# ----------------------------------------------------------------------------- spectrum, singularities

def _measured(measurement, out, run_dir, samples, seed, device, dtype, params, method=None):
    """(folder, (model, x, labels, what)): --out or the measurement's default folder (analysis/outputs.py), made
    and shown writable before any work; then the net and data measured, a run's or a fresh one (analysis/sources.py)."""
    from analysis.outputs import default_folder
    from analysis.sources import measured
    if out is None:
        out = default_folder(measurement, run_dir, seed, params, None if run_dir else configs(params), method)
    out = writable(out)
    device = click.get_current_context().meta.get("device", device)     # the Device that --device resolved to
    return out, measured(run_dir, samples, seed, device, dtype, params, None if run_dir else configs(params))


@main.command()
@_options(SPECTRUM_OPTIONS)
def spectrum(run_dir, samples, seed, device, dtype, method, probes, steps, window, batch_size, penalty, per_layer,
             groups, out, **params):
    """Hessian eigenvalue spectrum of the training loss: fractions, indices, extremes and a density plot."""
    from analysis.outputs import save
    from analysis.readouts import per_layer_readout, rough_warning, spectrum_readout
    from analysis.spectrum_and_meter_plots import plot_density, plot_per_layer
    from analysis.spectra import WINDOW, HessianOperator
    from analysis.spectra.estimate import cost, plan, spectrum as spectrum_of

    if groups and not per_layer:
        raise click.UsageError("--group names a block of the per-layer spectra; add --per-layer")
    window = WINDOW if window is None else window
    out, (model, x, y, what) = _measured("spectrum", out, run_dir, samples, seed, device, dtype, params,
                                         f"{method}-per-layer" if per_layer else method)
    operator = HessianOperator(model, x, y, batch_size=batch_size, penalty=penalty)
    try:
        blocks, total, label = plan(model, operator, method, probes, steps, per_layer, groups)
    except ValueError as e:
        raise click.ClickException(str(e))
    console.print(cost(operator, total))
    if warning := rough_warning(method, probes, steps, per_layer):
        console.print(f"[yellow]Warning:[/yellow] {warning}")
    with _bar(TimeRemainingColumn()) as bar:
        result = spectrum_of(operator, blocks, method, probes, steps, seed, window, source=what,
                             progress=label and _Counter(bar, label, total))
    if not per_layer:
        written = save(out, "spectrum", result, ("result.json", "density.png"), plot_density, f"{method}: {what}")
        return _readout(*spectrum_readout(result, method, what), written=written)
    written = save(out, "spectrum", result, ("result.json", "per_layer.png"), plot_per_layer,
                   f"per-layer {method}: {what}")
    _readout(*per_layer_readout(result, method, window, groups, what), written)


@main.command()
@_options(SINGULARITIES_OPTIONS)
def singularities(run_dir, samples, seed, device, dtype, out, **params):
    """Distance to the singular manifolds, per hidden layer: norms, overlaps, zero responses, dependence, gradients."""
    from analysis.meters import all_meters
    from analysis.outputs import save
    from analysis.readouts import singularities_readout
    from analysis.spectrum_and_meter_plots import plot_meters

    out, (model, x, y, what) = _measured("singularities", out, run_dir, samples, seed, device, dtype, params)
    result = dict(all_meters(model, x, y), source=what)
    written = save(out, "singularities", result, ("meters.json", "meters.png"), plot_meters, what)
    _readout(*singularities_readout(result, what), written, first_left=False, markup=False)


# ----------------------------------------------------------------------------- reproduce

@main.command("reproduce")
@click.argument("figures", metavar="FIGURE", callback=_parsed("analysis.figures", "named_stages"))
@_options(REPRODUCE_OPTIONS)
@click.pass_context
def reproduce(ctx, figures, preset, out, workers, cluster, scheduler, ensemble, stop_after, data_dir, device):
    """Reproduce FIGURE and check the paper's claims.

    FIGURE is one of fig2 fig3 fig4 fig5 fig6 fig7 fig8 figS1 figS2 figS3 figS4 figS5 figS6
    figS7-svhn figS7-stl10 (the paper), conv-fig3 conv-fig5 activation fidelity fig3-readings
    per-layer (ours), a comma-separated list, all, or plan (the CPU plan's stages, in their order:
    docs/reproduction.md).

    Each figure gets a folder with figure.png, numbers.json, claims.csv and report.md;
    <out>/CLAIMS.md collects every claim checked so far. Interrupted? Run the same
    command again: finished runs are reused and an interrupted run resumes.
    """
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    from analysis.reproduction.cluster import dashboard, runs_client
    from analysis.reproduction.reproduce import reproduce_stages, sweep_runs, write_index
    from analysis.reproduction.listeners import RunBars, SweepBars
    from analysis.reproduction.runner import ensemble_size
    from analysis.reproduction.sweep import Sweep, chosen_runners

    from_environment = ctx.get_parameter_source("scheduler") == ParameterSource.ENVIRONMENT
    workers, kept = chosen_runners(workers, cluster, scheduler, from_environment, device, console.print)
    if scheduler is not None and kept is None:
        scheduler = ctx.params["scheduler"] = None    # the environment's scheduler yields to an option given here
        _device(ctx, None, device)                     # so this machine's device counts after all
    if sum((cluster is not None, scheduler is not None, workers > 1)) > 1:
        raise click.UsageError("choose one of --cluster, --scheduler and --workers")
    chosen = presets.get(preset)
    root = writable(out or os.path.join("results", preset))
    stop_at = None if stop_after is None else time.time() + 60 * stop_after
    with runs_client(cluster, scheduler, device) as client, \
            _bar(TimeElapsedColumn(), description="{task.description}") as progress:
        if client is None:
            listener = RunBars(progress, plain=not console.is_terminal)
        else:
            listener = SweepBars(progress, *sweep_runs([FIGURES[s.figure] for s in figures], chosen, root),
                                 plain=not console.is_terminal)
            link = dashboard(client)
            progress.console.print(f"Dask cluster: {len(client.nthreads())} workers now"
                                   + (f", dashboard {link}" if link else ""))
        sweep = Sweep(root=root, workers=workers, data_root=data_dir, device=device, listener=listener, client=client,
                      ensemble=ensemble_size(ensemble, device), stop_at=stop_at)
        unfinished = reproduce_stages(figures, FIGURES, chosen, sweep, say=progress.console.print)
    notes = []
    console.print(f"claims of every figure done so far: {write_index(root, chosen, notes, list(FIGURES))}")
    for note in notes:
        console.print(f"  [yellow]left out[/yellow] {note}", soft_wrap=True, highlight=False)
    if unfinished:
        raise click.ClickException(unfinished)


# ----------------------------------------------------------------------------- runs

@main.group()
def runs():
    """Carry finished runs between machines: metrics, not checkpoints."""


@runs.command("pack")
@click.argument("root", type=click.Path())
@click.argument("archive", type=click.Path())
@_options(PACK_OPTIONS)
def pack_runs(root, archive, by_figure):
    """Write ARCHIVE, a .tar.gz of the finished runs of ROOT.

    ROOT is a reproduction's --out folder (e.g. results/paper). Each finished (or diverged) run
    travels as config.json, metrics.jsonl and summary.json; checkpoints stay behind.
    """
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    from analysis.readouts import packed_line
    from analysis.reproduction.archive import pack, pack_figures
    writable(archive if by_figure else os.path.dirname(os.path.abspath(printable(archive, "ARCHIVE"))), "ARCHIVE")
    try:
        if by_figure:
            counts = pack_figures(root, archive, list(FIGURES.values()), presets.get(by_figure))
            return _lines(f"packed {packed} finished runs into {os.path.join(archive, name, 'runs.tar.gz')}"
                          for name, packed in counts.items())
        counts = pack(root, archive)
    except OSError as e:
        raise click.ClickException(f"cannot write {archive} ({e.strerror or e}); choose another ARCHIVE")
    _lines([packed_line(counts, archive)])


@runs.command("unpack")
@click.argument("archives", metavar="ARCHIVE...", nargs=-1, required=True, type=click.Path())
@click.argument("root", type=click.Path())
def unpack_runs(archives, root):
    """Add the finished runs of each ARCHIVE to ROOT.

    `reproduce --out ROOT` then reuses them instead of training them again. A run finished in
    ROOT already is kept; one there but not finished is replaced, unless a live trainer holds it.
    """
    from analysis.readouts import unpacked_lines
    from analysis.reproduction.archive import unpack
    writable(root, "ROOT")
    for archive in archives:
        try:
            counts = unpack(archive, root)
        except OSError as e:
            raise click.ClickException(f"cannot write to {root} ({e.strerror or e}); choose another ROOT")
        _lines(unpacked_lines(counts, archive, root, named=len(archives) > 1))


# ----------------------------------------------------------------------------- toy models

@main.group()
def toy():
    """Toy models of singularities (no data needed; seconds each)."""


for _name, (_, _help) in TOYS.items():
    @toy.command(_name, help=_help)
    @_options(TOY_OPTIONS)
    def _toy(out, quick, name=_name):      # name: this toy's, bound as the command is made
        from analysis.readouts import toy_readout
        from analysis.toys import modules
        writable(out)
        for toy_module in modules(name):
            began = time.perf_counter()
            summary = toy_module.run(out, quick=quick)
            console.print(_table(*toy_readout(toy_module, summary)))
            for path in summary["figures"]:
                console.print(f"  wrote {path}")
            console.print(f"  [dim]{toy_module.__name__.rsplit('.', 1)[1]}: {time.perf_counter() - began:.1f} s[/dim]")


# ----------------------------------------------------------------------------- bench

@main.command()
@_options(BENCH_OPTIONS)
def bench(workload, out, **options):
    """Time W1 (Adam step, batch 500, fp32) and W2 (gradient and exact HVP, batch 1,024, fp64 and fp32), W4 (a
    training epoch of a seed ensemble against a single net's) or 100 Lanczos steps, next to PyTorch."""
    from analysis.bench import run, tables, workloads
    from models.files import write_json
    plan = workloads(workload, out)
    writable(os.path.dirname(printable(plan[0][1])) or ".")
    with console.status("timing") as status:
        def progress(what):
            status.update(f"timing {what}")
            if not console.is_terminal:
                console.print(f"timing {what}")
        for name, path in plan:
            result = run(name, options, progress)
            write_json(path, result)
            for title, columns, rows in tables(name, result, options):
                console.print(_table(title, columns, rows))
            console.print(f"written to {path}")


if __name__ == "__main__":
    main()
