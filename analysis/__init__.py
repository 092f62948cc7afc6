"""What studies nets: Hessian spectra, singularity meters, the toy models, and the paper's figures.

    spectra/       the Hessian of the training objective and three estimates of its spectrum
    meters.py      singularity meters per layer: elimination, overlap, zero responses, dependence, gradients
    measurement_plan.py  the one measurement plan a run carries (spectra at chosen epochs, meters every
                   epoch), attached to the training loop as its EpochHooks
    spectrum_and_meter_plots.py  one net's spectral density, meters and per-layer spectra as pictures
    png.py         matplotlib for files, the one DPI, the atomic PNG save every drawing goes through
    sources.py     what `spectrum` and `singularities` measure: a run's last checkpoint, or a fresh net
    outputs.py     where `spectrum` and `singularities` write: the run folder measured, or one per fresh net
    readouts.py    what the commands print of a result (train, spectrum, singularities, toy, runs), as strings
    toys/          the paper's toy models (Figs 2, S4, S5): exact, small, no data
    reproduction/  presets, run specs, the runner, aggregation, claims and reports
    figures/       one file per figure: its runs, panels and claims, declared before any run
    bench/         engine speed against PyTorch (`cli.py bench`)
"""
