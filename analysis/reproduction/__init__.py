"""Reproductions of the paper's figures: `python cli.py reproduce fig3 --preset quick`.

    presets.py   what a preset (paper, quick, test) fixes for every figure
    spec.py      RunSpec (a training config + a measurement plan, named by its hash), panels, Figure
    sweep.py     Sweep (where and how runs are carried out), a run folder's state, run_group (one ensemble)
    runner.py    carrying out a figure's runs: verify, reuse, resume, --workers processes
    cluster.py   the same on a Dask cluster: --cluster local:N, --scheduler ADDRESS
    listeners.py what a sweep tells as it goes, drawn as progress bars
    aggregate.py mean and standard error over seeds; best-k / worst-k splits
    claims.py    claims as checks on aggregated numbers (held / within error / not held)
    figure_plots.py  one PNG per figure, panels like the paper's
    reproduce.py one figure end to end (runs, aggregate, claims, results folder), the CLAIMS.md index,
                 and which figures of a sweep are incomplete
    archive.py   finished runs in one .tar.gz, without checkpoints, to go on with a sweep on another machine
    options.py   the options of `reproduce` and `runs pack`, as data the command line builds its flags from

The figures themselves are declared in analysis/figures/, the measurements in analysis/measurement_plan.py.
"""
