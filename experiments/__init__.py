"""Reproductions of the paper's figures: `python cli.py reproduce fig3 --preset quick`.

    presets.py   what a preset (paper, quick, test) fixes for every figure
    spec.py      RunSpec (a training config + a measurement plan, named by its hash), panels, Figure
    measure.py   the measurement plan of a run -> training.Measurement hooks
    runner.py    carrying out runs: reuse, resume, --workers processes
    aggregate.py mean and standard error over seeds; best-k / worst-k splits
    claims.py    claims as checks on aggregated numbers (held / within error / not held)
    plots.py     one PNG per figure, panels like the paper's
    reproduce.py one figure end to end: runs, aggregate, claims, results folder
    fidelity.py  issue 7's sensitivity grid (preprocessing, skip scaling, branch init)
    figures/     one file per figure: its runs, panels and claims, declared before any run
"""
