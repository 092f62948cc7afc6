"""What a sweep tells as its runs go, drawn as bars: the runs of a figure and the current run's epochs, or on a
cluster one bar over every run of the sweep with the runs failed and running.

`progress` is a rich.progress.Progress (cli.py makes it) or anything with its add_task, remove_task, advance,
update and console.print; plain=True (not a terminal) adds one plain line per run.
"""
import threading

from models.training import Progress

from .runner import Listener


class RunBars(Listener):
    """One bar over the runs of a figure and, for runs done in this process, one over the current run's epochs."""

    def __init__(self, progress, plain=False):
        self.progress, self.plain, self.runs, self.epochs = progress, plain, None, None
        self.said = set()          # a reason shared by many runs (no data, say) is printed once

    def begin(self, total, done):
        if self.runs is not None:
            self.progress.remove_task(self.runs)
        self.runs = self.progress.add_task("runs", total=total, completed=done)
        self.count = [done, total]

    def run_progress(self, spec):
        listener = self

        class Bar(Progress):
            def start(self, config, start_epoch, steps_per_epoch):
                if listener.epochs is not None:
                    listener.progress.remove_task(listener.epochs)
                listener.epochs = listener.progress.add_task(f"  {spec.name}", total=config.epochs + 1,
                                                             completed=start_epoch)

            def epoch(self, row):
                listener.progress.advance(listener.epochs)
        return Bar()

    def started(self, name):
        pass

    def finished(self, name, status, seconds, message):
        self.progress.advance(self.runs)
        self._say(name, status, seconds, message)

    def _say(self, name, status, seconds, message):
        self.count[0] += 1
        if self.plain:
            self.progress.console.print(f"  run {self.count[0]}/{self.count[1]}: {name} {status} ({seconds:.0f} s)")
        if status != "finished" and message not in self.said:
            self.said.add(message)
            self.progress.console.print(f"  [yellow]{name}: {status}[/yellow] {message} (each run's reason is in "
                                        "its figure's report.md)")


class SweepBars(RunBars):
    """On a cluster: one bar over every run of the sweep, with the runs failed and running (workers send no epochs)."""

    def __init__(self, progress, total, done, plain=False):
        super().__init__(progress, plain)
        self.runs = progress.add_task("runs", total=total, completed=done)
        self.done, self.ended, self.failed, self.running = done, set(), set(), set()
        self.lock = threading.Lock()         # started() comes from the Dask client's thread
        self._show()

    def begin(self, total, done):
        self.count = [done, total]           # the plain lines count a figure's runs, as without a cluster

    def started(self, name):
        with self.lock:
            self.running.add(name)
            self._show()

    def finished(self, name, status, seconds, message):
        with self.lock:
            self.running.discard(name)
            self.ended.add(name)
            (self.failed.add if status == "failed" else self.failed.discard)(name)
            self._show()
        self._say(name, status, seconds, message)

    def _show(self):
        self.progress.update(self.runs, completed=self.done + len(self.ended),
                             description=f"runs ({len(self.failed)} failed, {len(self.running)} running)")
