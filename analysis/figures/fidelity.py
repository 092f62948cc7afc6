"""The sensitivity grid: do Fig 3's and Fig 5's orderings survive the settings a reader could have meant?

The paper states its architectures (skip added after the ReLU, no normalization,
Glorot normal, unnormalized hyper-residual sums) but not its input preprocessing.
Under the stated settings activations grow geometrically with depth in residual and
hyper-residual nets (analysis/meters.py, activation scale). The grid runs Fig 3's
nets (plain / residual / hyper-residual, 20 layers) and Fig 5's (Residual,
ResMalInit, BiasReg, BiasL2Reg, Plain, 30 layers, CIFAR-100) under the stated
settings and under each single variant below, one axis changed at a time:

  preprocessing  center: subtract the per-channel training mean only; unit: pixels
                 / 255 in [0, 1]; raw: 0-255 values. (Stated: none; we default to
                 per-channel standardization, the common choice.)
  scaled skips   residual-type nets: the ReLU branch × 1/sqrt(depth); hyper-residual:
                 each sum divided by its number of summands (models/mlp.py,
                 skip_scale). The usual ways of keeping a deep sum's scale fixed.
  small init     the skip layers' weights × 1/sqrt(depth) at init (Fixup-style)
  SkipInit       a learnable gain per skip branch, starting at 0 (De & Smith 2020)
  Q per pair     hyper-residual only: an independent fixed Q_{k,t} for every (source
                 k, target t) pair instead of one Q_k per source shared by every
                 target (models/mlp.py, hyper_q_draw; the paper does not say which)

A variant that does not apply to a net (skip scaling of a plain net, Q per pair of
anything but the hyper-residual net) leaves it as stated, and the run is shared with the stated cell. The grid and the claims are
fixed here, before any run; the report shows every cell. Seeds and epochs are
Fig 3's and Fig 5's (3 seeds and 8 epochs at the quick preset), so the stated
cells are those figures' own runs.
"""
from ..reproduction.claims import Order
from . import fig3, fig5
from ..reproduction.spec import Figure, Layers

SETTINGS = {          # name -> (data options, options for residual-type nets, options for hyper-residual nets)
    "stated": ({}, {}, {}),
    "preprocess=center": ({"preprocess": "center"}, {}, {}),
    "preprocess=unit": ({"preprocess": "unit"}, {}, {}),
    "preprocess=raw": ({"preprocess": "raw"}, {}, {}),
    "scaled skips": ({}, {"skip_scale": "branch"}, {"skip_scale": "average"}),
    "small init": ({}, {"branch_init": "small"}, {"branch_init": "small"}),
    "SkipInit": ({}, {"branch_init": "skipinit"}, {"branch_init": "skipinit"}),
    "Q per pair": ({}, {}, {"hyper_q_draw": "per-pair"}),
}
FIG5 = ("Residual", "ResMalInit", "BiasReg", "BiasL2Reg", "Plain")


def _options(setting, model):
    data, residual, hyper = SETTINGS[setting]
    skip = model.get("skip")
    extra = hyper if skip == "hyperres" else residual if skip == "residual" else {}
    return {**data, **extra}


def groups(preset):
    out = {}
    for setting in SETTINGS:
        for label, model in fig3.NETS.items():
            out[f"{setting} / fig3 {label}"] = fig3.groups(preset, {label: {**model, **_options(setting, model)}})[label]
        nets = fig5.nets("cifar100")
        for label in FIG5:
            model = {**nets[label], **_options(setting, nets[label])}
            out[f"{setting} / fig5 {label}"] = fig5.groups(preset, ("cifar100",), lambda data: {label: model}
                                                           )[fig5.label(label, "cifar100")]
    return out


def claims(preset=None):
    """One row per (claim, setting): each claim's table lists the settings one after another. The nets of one seed
    share their initial weights and minibatch order, so each order is tested paired, as in Figs 3 and 5; a setting
    that changes none of a claim's nets repeats the stated cell on its very runs, and is shown but not counted."""
    out = []
    checks = [
        ("Fig 3a: train accuracy Hyperres > Residual > Plain", "train_acc", ("Hyperres", "Residual", "Plain"), "fig3", "mean"),
        ("Fig 3: skip connections help, Residual > Plain", "train_acc", ("Residual", "Plain"), "fig3", "mean"),
        ("Fig 3b: degeneracy index Plain > Residual > Hyperres", "hessian/degeneracy", ("Plain", "Residual", "Hyperres"),
         "fig3", "early"),
        ("Fig 5b: train accuracy Residual > ResMalInit > BiasReg > BiasL2Reg", "train_acc",
         ("Residual", "ResMalInit", "BiasReg", "BiasL2Reg"), "fig5", "mean"),
        ("Fig 5b: BiasReg > Plain", "train_acc", ("BiasReg", "Plain"), "fig5", "mean"),
        ("Fig 5: skip connections help, Residual > Plain", "train_acc", ("Residual", "Plain"), "fig5", "mean"),
    ]
    models = {"fig3": fig3.NETS, "fig5": fig5.nets("cifar100")}
    for text, metric, order, fig, at in checks:
        for setting in SETTINGS:
            same = setting != "stated" and not any(_options(setting, models[fig][g]) for g in order)
            out.append(Order(f"{text} — {setting}", metric, tuple(f"{setting} / {fig} {g}" for g in order), at=at,
                             percent=metric == "train_acc", paired=True,
                             repeats="its stated cell" if same else None))
    return out


def _bars(metric, fig, labels, ylabel, log=False, at="mean", title=""):
    """A panel: one bar group per setting, one bar per net (mean ± SE over seeds), in the net's colour
    (plots.style); a cell whose value rests on a failing mixture fit (the reports' "no fit") is hatched grey."""
    import numpy
    from ..reproduction import aggregate
    from ..reproduction.claims import fits_ok

    def draw(ax, curves, rows_by_group, colors):
        settings = list(SETTINGS)
        width = 0.8 / len(labels)
        scale = 100.0 if metric == "train_acc" else 1.0
        labelled = False
        for i, label in enumerate(labels):
            cells = [f"{s} / {fig} {label}" for s in settings]
            stats = [aggregate.mean_se([aggregate.value_at(r, metric, at) for r in rows_by_group.get(c, [])])
                     for c in cells]
            means = numpy.array([s["mean"] if s["mean"] is not None else numpy.nan for s in stats]) * scale
            errors = numpy.array([s["se"] or 0.0 for s in stats]) * scale
            x = numpy.arange(len(settings)) + i * width
            ax.bar(x, means, width, yerr=errors, color=colors[label], label=label)
            bad = [j for j, c in enumerate(cells) if numpy.isfinite(means[j])
                   and not fits_ok(rows_by_group, metric, at, groups=[c])]
            if bad:
                ax.bar(x[bad], means[bad], width, facecolor=(1.0, 1.0, 1.0, 0.6), edgecolor="dimgrey",
                       hatch="////", lw=0, gid="no-fit", label="_nolegend_" if labelled else "no fit")
                labelled = True
        ax.set_xticks(numpy.arange(len(settings)) + 0.4 - width / 2)
        ax.set_xticklabels(settings, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        elif metric != "train_acc":       # indices differ in the 4th decimal: zoom to the data
            values = [b.get_height() for b in ax.patches if numpy.isfinite(b.get_height())]
            if values:
                lo, hi = min(values), max(values)
                pad = 0.1 * (hi - lo) or 1e-4
                ax.set_ylim(lo - pad, hi + pad)
    draw.title, draw.metrics, draw.percent = title, (metric,), metric == "train_acc"
    return draw


def tables(claims, rows_by_group):
    """Two markdown matrices, settings x claims (verdicts) and settings x nets (train accuracy, mean over epochs)."""
    from ..reproduction import aggregate
    from ..reproduction.claims import format_stats
    heads = [c["claim"].split(" — ")[0] for c in claims[::len(SETTINGS)]]
    verdict = {(c["claim"].split(" — ")[0], c["claim"].split(" — ")[1]): c["verdict"] for c in claims}
    lines = ["## The grid at a glance", "", "Verdicts (rows: settings; columns: claims; details in the table below):",
             "", "| setting | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(verdict.get((h, s), "") for h in heads) + " |" for s in SETTINGS]
    nets = [("fig3", n) for n in fig3.NETS] + [("fig5", n) for n in FIG5]
    lines += ["", "Training accuracy (%), mean over epochs 1..E, mean ± SE over seeds; RMS growth (last / first hidden "
              "layer at init) in brackets:", "",
              "| setting | " + " | ".join(f"Fig {fig[3:]} {net}" for fig, net in nets) + " |",
              "|---" * (len(nets) + 1) + "|"]
    for s in SETTINGS:
        cells = []
        for fig, net in nets:
            runs = rows_by_group.get(f"{s} / {fig} {net}", [])
            acc = aggregate.mean_se([aggregate.value_at(r, "train_acc", "mean") for r in runs])
            growth = aggregate.mean_se([aggregate.value_at(r, "meters/rms/growth_last_first", 0) for r in runs])
            g = "" if growth["mean"] is None else f" [{growth['mean']:.2g}]"
            cells.append(format_stats(acc, percent=True).split(" (n=")[0] + g)
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


FIGURE = Figure(
    "fidelity", "Sensitivity of Fig 3 and Fig 5 to preprocessing, skip scaling, branch init and the hyper-residual Q",
    "Not a figure of the paper: the stated settings and each single nearby variant a reader could have meant, "
    "declared in analysis/figures/fidelity.py before any run.",
    groups, claims,
    [_bars("train_acc", "fig3", tuple(fig3.NETS), "train accuracy (%), mean over epochs", title="Fig 3 nets"),
     _bars("meters/rms/growth_last_first", "fig3", tuple(fig3.NETS), "RMS last / first hidden layer at init",
           log=True, at=0, title="activation growth at init, Fig 3 nets"),
     _bars("hessian/degeneracy", "fig3", tuple(fig3.NETS), "degeneracy index (first epoch ≥ 1)", at="early",
           title="degeneracy index, Fig 3 nets"),
     *[Layers("meters/rms", "RMS of layer output at init", epochs=(0,), log=True,
              groups=tuple(f"{s} / fig3 {net}" for s in SETTINGS), title=f"activation scale per layer, Fig 3 {net}")
       for net in ("Residual", "Hyperres")],
     _bars("train_acc", "fig5", FIG5, "train accuracy (%), mean over epochs", title="Fig 5 nets, CIFAR-100"),
     _bars("meters/rms/growth_last_first", "fig5", FIG5, "RMS last / first hidden layer at init", log=True, at=0,
           title="activation growth at init, Fig 5 nets")],
    notes=lambda preset: __doc__.split("\n\n", 1)[1].strip(), tables=tables, reuses=True)
