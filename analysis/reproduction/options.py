"""The options of `reproduce` and `runs pack`, as plain data (models.options.Option) the command line builds its
click options from: declared once, here, readable without click.

    REPRODUCE_OPTIONS  the preset (presets.py), the results folder and how the runs are spread (sweep.py's Sweep:
                       --workers, --cluster or --scheduler (cluster.py), --ensemble (runner.py), --stop-after),
                       the data folder and the device
    PACK_OPTIONS       runs pack's: one archive per figure of a preset (archive.py)

The texts of --workers, --cluster and --ensemble are parsed by sweep.workers_setting, cluster.local_workers
and runner.ensemble_setting, named here and imported only when an option is given.
"""
from models.options import DATA_DIR, DEVICE, Option

from .presets import PRESETS

REPRODUCE_OPTIONS = (
    Option("--preset", "quick", "quick: minutes per figure on a CPU; paper: the paper's full protocol (a GPU job); "
           "quick-full: quick on the full training set (does the quick subset point the same way?); test: tiny "
           "synthetic runs for the test suite.", choices=PRESETS),
    Option("--out", None, "Results folder (default results/<preset>); runs are kept in <out>/runs and reused.",
           path="dir"),
    Option("--workers", "auto", "Processes to spread independent runs over. auto: one per core with one BLAS "
           "thread each on the cpu (measured the faster layout on 2 cores), one on cuda; it says what it chose. "
           "1: every run in this process, with your BLAS thread setting.", metavar="N|auto",
           parse=("analysis.reproduction.sweep", "workers_setting")),
    Option("--cluster", None, "Spread the runs over an embedded Dask cluster of N worker processes (with --device "
           "cuda: one GPU each). Needs pip install -e \".[cluster]\".", metavar="local:N",
           parse=("analysis.reproduction.cluster", "local_workers")),
    Option("--scheduler", None, "Send the runs to the Dask scheduler at ADDRESS (tcp://HOST:PORT; default "
           "$DASK_SCHEDULER_ADDRESS when neither --cluster nor --workers is given). --out must be on a file system "
           "every worker can write.", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS", eager=True),
    Option("--ensemble", "auto", "Train the runs of a curve that differ only in their seed together, N at a time "
           "(one batched pass; every run folder and number as if trained alone). auto: 50 on cuda, 10 on the cpu.",
           metavar="auto|off|N", parse=("analysis.reproduction.runner", "ensemble_setting")),
    Option("--stop-after", None, "Begin no training epoch after MINUTES (on a machine lent for minutes): stopped "
           "runs keep their checkpoints, each figure is written from the runs done so far and marked partial, and "
           "the same command continues. 0: train nothing, only draw the figures from the runs done.",
           minimum=0, type=float, check="finite", metavar="MINUTES"),
    DATA_DIR,
    DEVICE,
)
PACK_OPTIONS = (
    Option("--by-figure", None, "ARCHIVE is a folder: each figure of PRESET gets ARCHIVE/<figure>/runs.tar.gz with "
           "the runs it owns, their metrics thinned to what the figures read.", choices=PRESETS, name="by_figure",
           metavar="PRESET"),
)
