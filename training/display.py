"""The rich view of a training run: a progress bar with loss, accuracy and ETA, then a summary table."""
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn
from rich.table import Table

from .loop import Progress


class RichDisplay(Progress):
    """Draws one bar over all steps of the run, with the latest loss and the last epoch's accuracies."""

    def __init__(self, console=None):
        self.console = console or Console()
        self.bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn(), console=self.console)
        self.task = None
        self.last = ""

    def start(self, config, start_epoch, steps_per_epoch):
        self.steps_per_epoch = steps_per_epoch
        total = config.epochs * steps_per_epoch
        done = max(start_epoch - 1, 0) * steps_per_epoch
        self.bar.start()
        self.task = self.bar.add_task("training", total=total, completed=done, status="")

    def step(self, epoch, step, loss):
        self.bar.update(self.task, advance=1, description=f"epoch {epoch}",
                        status=f"loss {loss:.4f}  {self.last}")

    def epoch(self, row):
        self.last = f"train {row['train_acc']:.1%}  test {row['test_acc']:.1%}"
        self.bar.update(self.task, status=self.last)

    def close(self):
        self.bar.stop()


def summary_table(history, title):
    table = Table(title=title)
    for column in ("epoch", "train loss", "train acc", "test loss", "test acc", "seconds"):
        table.add_column(column, justify="right")
    shown = history if len(history) <= 12 else history[:3] + history[-8:]
    for row in shown:
        table.add_row(str(row["epoch"]), f"{row['train_loss']:.4f}", f"{row['train_acc']:.2%}",
                      f"{row['test_loss']:.4f}", f"{row['test_acc']:.2%}", f"{row['seconds']:.1f}")
    return table
