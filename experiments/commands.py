"""`python cli.py reproduce FIGURE --preset quick|paper`: the paper's figures from real runs, with their claims."""
import os
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from common.files import write_text

console = Console()


class RichListener:
    """One bar over the runs of a figure and, for runs done in this process, one over the current run's epochs."""

    def __init__(self, progress):
        self.progress, self.runs, self.epochs = progress, None, None
        self.said = set()          # a reason shared by many runs (no data, say) is printed once

    def begin(self, total, done):
        if self.runs is not None:
            self.progress.remove_task(self.runs)
        self.runs = self.progress.add_task("runs", total=total, completed=done)

    def run_progress(self, spec):
        from training import Progress as TrainProgress
        listener = self

        class Bar(TrainProgress):
            def start(self, config, start_epoch, steps_per_epoch):
                if listener.epochs is not None:
                    listener.progress.remove_task(listener.epochs)
                listener.epochs = listener.progress.add_task(f"  {spec.name}", total=config.epochs + 1,
                                                             completed=start_epoch)

            def epoch(self, row):
                listener.progress.advance(listener.epochs)
        return Bar()

    def finished(self, name, status, seconds, message):
        self.progress.advance(self.runs)
        if status != "finished" and message not in self.said:
            self.said.add(message)
            self.progress.console.print(f"  [yellow]{name}: {status}[/yellow] {message} (each run's reason is in "
                                        "its figure's report.md)")


def _names(figure):
    from .figures import FIGURES
    if figure == "all":
        return list(FIGURES)
    unknown = [f for f in figure.split(",") if f not in FIGURES]
    if unknown:
        raise click.UsageError(f"unknown figure {unknown[0]!r}; choose from: all, {', '.join(FIGURES)}")
    return figure.split(",")


@click.command("reproduce")
@click.argument("figure")
@click.option("--preset", type=click.Choice(["quick", "paper", "test"]), default="quick", show_default=True,
              help="quick: minutes per figure on a CPU; paper: the paper's full protocol (a GPU job); "
                   "test: tiny synthetic runs for the test suite.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Results folder (default results/<preset>); runs are kept in <out>/runs and reused.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Processes to spread independent runs over.")
@click.option("--data-dir", default=None, help="Folder holding the CIFAR tarballs "
              "(default: $SKIP_SINGULARITIES_DATA, else ~/.cache/skip-singularities).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
def reproduce_cmd(figure, preset, out, workers, data_dir, device):
    """Reproduce FIGURE and check the paper's claims.

    FIGURE is one of fig2 fig3 fig4 fig5 fig6 fig7 fig8 figS1 figS2 figS3 figS4 figS5 figS6
    figS7-svhn figS7-stl10 (the paper), conv-fig3 conv-fig5 activation fidelity (ours), a
    comma-separated list, or all.

    Each figure gets a folder with figure.png, numbers.json, claims.csv and report.md;
    <out>/CLAIMS.md collects every claim checked so far. Interrupted? Run the same
    command again: finished runs are reused and an interrupted run resumes.
    """
    import minigrad as mg
    from . import presets
    from .figures import FIGURES
    from .reproduce import reproduce

    names = _names(figure)
    try:
        mg.get_device(device)
    except mg.DeviceError as e:
        raise click.UsageError(str(e))
    chosen = presets.get(preset)
    root = out or os.path.join("results", preset)
    os.makedirs(root, exist_ok=True)
    summaries = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        listener = RichListener(progress)
        for name in names:
            began = time.perf_counter()
            progress.console.print(f"[bold]{name}[/bold]: {FIGURES[name].title}")
            summaries[name] = reproduce(FIGURES[name], chosen, root, workers, data_dir, device, listener)
            verdicts = [c["verdict"] for c in summaries[name]["claims"]]
            progress.console.print(f"  {name}: {verdicts.count('held')}/{len(verdicts)} claims held, "
                                   f"{time.perf_counter() - began:.0f} s -> {os.path.join(root, name)}")
    index = write_index(root, chosen)
    console.print(f"claims of every figure done so far: {index}")


def write_index(root, preset):
    """<root>/CLAIMS.md: the claims table of every figure whose numbers.json exists, in figure order."""
    import json
    from .figures import FIGURES
    from .reproduce import claims_table
    rows, times = [], []
    for name in FIGURES:
        path = os.path.join(root, name, "numbers.json")
        if os.path.exists(path):
            with open(path) as f:
                summary = json.load(f)
            rows += [(f"[{name}]({name}/report.md)", c) for c in summary["claims"]]
            times.append(f"{name} {summary['seconds']:.0f} s")
    text = (f"# Claims checked (preset `{preset.name}`)\n\n" + claims_table(rows, with_figure=True) +
            "\n\nWall-clock of the last reproduction of each figure (runs reused from earlier figures cost nothing): "
            + ", ".join(times) + ".\n")
    path = os.path.join(root, "CLAIMS.md")
    write_text(path, text)
    return path
