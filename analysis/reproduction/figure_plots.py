"""One PNG per figure: its panels side by side, like the paper's, from the aggregated numbers.

What a reader can trust at a glance:

* one style per net (`style`, from `NET_STYLES`): a net's colour and line style are the same in every panel of
  every figure; a label's qualifier (its data set, depth, reading or setting) adds a marker, never a new colour;
* a value read from a mixture fit that does not represent its moments (the reports' "no fit",
  claims.fits_ok) is drawn as a hollow grey marker with a legend entry "no fit", and an index panel's title
  says the range the index can take on its grid at all (mixture_fit.index_ranges);
* curves that coincide exactly are named on their panel (one line hides the others);
* accuracy panels get a dotted chance line, 1 / the data's number of classes (presets.classes);
* the title names the preset's budget (training images, epochs, seeds) and a caption under the panels says
  what a point is (epoch 0 is an evaluation of the untrained net, later training-accuracy points are running
  means over the epoch's minibatches) and what the marks mean.
"""
import functools
import math
import re
import textwrap
import zlib

from ..png import plt, save_png
from . import aggregate, presets
from .claims import _fit_flag
from .spec import Curve, Layers, Scatter

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]

# ----------------------------------------------------------------------------- one style per net, every figure

# net -> (colour, line style). The one place a net's look is decided: every panel of every figure draws a net so.
NET_STYLES = {
    "Plain": ("tab:blue", "-"), "Residual": ("tab:orange", "-"), "Hyperres": ("tab:green", "-"),
    "ResMalInit": ("tab:red", "--"), "BiasReg": ("tab:purple", "-."), "BiasL2Reg": ("tab:brown", ":"),
    "BiasReg+BN": ("tab:pink", "--"),
    "identity": ("tab:orange", "-"),            # Fig 7's identity skips are the residual net
    "dense ortho.": ("tab:olive", "--"),
    "Best": ("tab:cyan", "-"), "Worst": ("black", "--"),      # Figs 4, S2, S7: the best and worst plain nets
}
# A label's qualifier -> the marker it adds (None: the default setting, no marker). Unknown qualifiers get one
# of EXTRA_MARKERS by a stable hash of their text.
QUALIFIER_MARKERS = {
    "CIFAR-100": None, "CIFAR-10": "^", "30-layer": None, "20-layer": "s", "stated": None,
    "scaled skips": "D", "SkipInit": "v", "small init": "*",
    "preprocess=center": "<", "preprocess=unit": ">", "preprocess=raw": "p",
}
EXTRA_MARKERS = ("P", "X", "h", "d", "8", "H")
EXTRA_COLORS = ("tab:gray", "darkgoldenrod", "teal", "slateblue", "indianred", "darkkhaki", "steelblue", "sienna")
NO_FIT = {"ls": "none", "marker": "o", "ms": 7, "mfc": "white", "mec": "dimgrey", "mew": 1.2, "zorder": 4}
CHANCE = {"color": "grey", "ls": ":", "lw": 1.0, "zorder": 0.5}


def split_label(label):
    """(net, [qualifiers]) of a group label: 'Plain (CIFAR-10)', '20-layer Residual', 'Residual (SkipInit)',
    'stated / fig5 BiasReg' (fidelity.py) all name their net and what differs."""
    net, qualifiers = str(label).strip(), []
    m = re.match(r"^(.*?)\s*/\s*fig\S*\s+(.+)$", net)
    if m:
        net, qualifiers = m.group(2), [m.group(1)]
    m = re.match(r"^(\d+-layer)\s+(.+)$", net)
    if m:
        qualifiers.append(m.group(1))
        net = m.group(2)
    while (m := re.match(r"^(.+?)\s*\(([^()]*)\)$", net)):
        net = m.group(1)
        qualifiers.append(m.group(2))
    return net, qualifiers


def _family_color(net):
    """Colours of the ordered families: Fig 8's β (viridis by β) and Fig 7's k orthonormal vectors ('cool', cyan
    to magenta, by log2 k); None for any other net."""
    m = re.fullmatch(r"β=([0-9.eE+-]+)", net)
    if m:
        return matplotlib.colors.to_hex(matplotlib.colormaps["viridis"](min(1.0, float(m.group(1)) / 0.025) * 0.85))
    if net.isdigit() and int(net) > 0:
        return matplotlib.colors.to_hex(matplotlib.colormaps["cool"](0.1 + 0.85 * min(1.0, math.log2(int(net)) / 7)))
    return None


@functools.lru_cache(maxsize=None)
def style(label):
    """{'color', 'ls', 'marker'} of a group label: its net's colour and line style (NET_STYLES, the β and k
    families, else a colour fixed by the net's name), and the marker of its qualifier (None if none)."""
    net, qualifiers = split_label(label)
    if net in NET_STYLES:
        color, ls = NET_STYLES[net]
    else:
        color = _family_color(net) or EXTRA_COLORS[zlib.crc32(net.encode()) % len(EXTRA_COLORS)]
        ls = "-"
    marker = None
    for q in qualifiers:
        found = QUALIFIER_MARKERS[q] if q in QUALIFIER_MARKERS else \
            EXTRA_MARKERS[zlib.crc32(q.encode()) % len(EXTRA_MARKERS)]
        marker = found or marker
    return {"color": color, "ls": ls, "marker": marker}


class Colors(dict):
    """{label: colour} for a figure's own drawing functions: any label gets its net's colour (`style`); a
    figure's `colors` override it."""
    def __missing__(self, label):
        return style(label)["color"]


# ----------------------------------------------------------------------------- marks: no fit, chance, coincidence

def no_fit_epochs(runs_rows, metric):
    """The epochs at which some run's `metric` comes from a mixture fit that does not represent its moments
    (the reports' "no fit": claims.fits_ok); empty when `metric` is not read from a fit."""
    flag = _fit_flag(metric)
    if flag is None:
        return set()
    return {row["epoch"] for rows in runs_rows for row in rows
            if row.get(metric) is not None and row.get(flag) != 1.0}


def mark_no_fit(ax, x, y):
    """Hollow grey markers on the values (x, y) of failing fits, with one legend entry "no fit" per panel."""
    if not len(x):
        return
    labelled = any(getattr(a, "get_gid", lambda: None)() == "no-fit" and a.get_label() == "no fit"
                   for a in ax.get_children())
    ax.plot(x, y, label="_nolegend_" if labelled else "no fit", gid="no-fit", **NO_FIT)


@functools.lru_cache(maxsize=None)
def _index_ranges(wide):
    from analysis.spectra.mixture_fit import index_ranges, wide_grids
    return index_ranges(wide_grids() if wide else None)


def index_range(metric):
    """(grid name, low, high): the values a mixture index `metric` can take on its grid; None for other metrics."""
    m = re.fullmatch(r"hessian/(wide/)?(degeneracy|negativity)", metric or "")
    if not m:
        return None
    low, high = _index_ranges(bool(m.group(1)))["degenerate" if m.group(2) == "degeneracy" else "negative"]
    return ("wide" if m.group(1) else "paper's"), low, high


def chance_line(ax, classes, percent):
    """A dotted line at chance, 1 / classes, for each class count of the panel's data."""
    for c in sorted(set(classes)):
        ax.axhline((100.0 if percent else 1.0) / c, label=f"chance (1/{c})", gid="chance", **CHANCE)


def note_coincident(ax, series):
    """Name on the panel the curves whose plotted arrays are exactly equal: series [(label, key, x, y)], compared
    within one key (an epoch of a Layers panel, None for curves). Returns the notes."""
    found = {}
    for label, key, x, y in series:
        found.setdefault((key, tuple(x), tuple(y)), []).append(label)
    notes = []
    for (key, _, _), labels in found.items():
        if len(labels) > 1:
            names = ", ".join(labels[:-1]) + " and " + labels[-1]
            notes.append(f"{names} coincide exactly" + (f" (epoch {key})" if key is not None else "")
                         + ": one line hides the others")
    if notes:
        ax.text(0.02, 0.02, "\n".join(textwrap.fill(n, 60) for n in notes), transform=ax.transAxes, fontsize=6.5,
                va="bottom", ha="left", gid="coincide", zorder=5,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
    return notes


def _groups(panel, curves):
    return [g for g in (panel.groups or curves) if g in curves]


def draw_curve(ax, panel, curves, colors, rows_by_group=None, classes=()):
    """A metric against epoch, one line per group in its net's style (mean ± SE band); values from failing
    mixture fits get hollow grey markers ("no fit"), an accuracy panel a dotted chance line for `classes`."""
    scale = 100.0 if panel.percent else 1.0
    series = []
    for g in _groups(panel, curves):
        c = curves[g].get(panel.metric)
        if not c:
            continue
        pairs = [(e, m * scale, (s or 0.0) * scale) for e, m, s in zip(c["epochs"], c["mean"], c["se"]) if m is not None]
        if not pairs:
            continue
        e, m, s = zip(*pairs)
        look, few = style(g), len(e) < 12
        failed = no_fit_epochs((rows_by_group or {}).get(g, []), panel.metric)
        ax.plot(e, m, color=colors[g], ls=look["ls"], marker=look["marker"] or ("." if few else None),
                markevery=None if few else max(1, len(e) // 10), label=g, alpha=0.45 if failed >= set(e) else 1.0)
        ax.fill_between(e, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=colors[g], alpha=0.2)
        bad = [(x, y) for x, y in zip(e, m) if x in failed]
        if bad:
            mark_no_fit(ax, *zip(*bad))
        series.append((g, None, e, m))
    note_coincident(ax, series)
    if panel.metric.endswith("_acc") and classes:
        chance_line(ax, classes, panel.percent)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel)


def draw_layers(ax, panel, curves, colors):
    """A per-layer meter against layer, one line per group (its net's style) and epoch (lighter: earlier)."""
    series = []
    for g in _groups(panel, curves):
        look = style(g)
        keys = sorted(k for k in curves[g] if k.startswith(panel.prefix + "/layer"))
        last = max((curves[g][k]["epochs"][-1] for k in keys), default=None)
        for i, epoch in enumerate(panel.epochs):
            epoch = last if epoch == "last" else epoch
            points = []
            for k in keys:
                c = curves[g][k]
                if epoch in c["epochs"]:
                    points.append((int(k.rsplit("layer", 1)[1]), c["mean"][c["epochs"].index(epoch)]))
            if points:
                x, y = zip(*points)
                alpha = 1.0 if len(panel.epochs) == 1 else 0.35 + 0.65 * i / (len(panel.epochs) - 1)
                ax.plot(x, y, color=colors[g], ls=look["ls"], marker=look["marker"], ms=4, alpha=alpha,
                        label=f"{g}, epoch {epoch}")
                series.append((g, epoch, x, y))
    note_coincident(ax, series)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(panel.ylabel)


def draw_scatter(ax, panel, rows_by_group, colors):
    """Per-run values of two metrics at the last measured epoch; runs whose value comes from a failing mixture
    fit get a hollow grey ring ("no fit")."""
    lo, hi = math.inf, -math.inf
    for g in [g for g in (panel.groups or rows_by_group) if g in rows_by_group]:
        points, bad = [], []
        for r in rows_by_group[g]:
            p = (aggregate.value_at(r, panel.x, "last"), aggregate.value_at(r, panel.y, "last"))
            if None in p:
                continue
            points.append(p)
            if any(aggregate.epoch_of(r, m, "last") in no_fit_epochs([r], m) for m in (panel.x, panel.y)):
                bad.append(p)
        if points:
            x, y = zip(*points)
            ax.scatter(x, y, s=14, color=colors[g], marker=style(g)["marker"] or "o", label=g)
            lo, hi = min(lo, *x, *y), max(hi, *x, *y)
        if bad:
            mark_no_fit(ax, *zip(*bad))
    if panel.identity and lo < hi:
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)


# ----------------------------------------------------------------------------- the budget, the caption

def _join(values):
    return "/".join(f"{v:,}" for v in sorted(values))


def budget(groups):
    """'budget: N training images (n + mirrors), E epochs, S seeds per net' of a figure's runs
    ({label: [RunSpec, ...]}, figure.groups(preset)); '' without runs."""
    specs = [s for runs in groups.values() for s in runs]
    if not specs:
        return ""
    try:
        sizes = {presets.training_images(s.config.data) for s in specs}
    except (KeyError, TypeError, ValueError):       # a data config these sizes do not know
        sizes = set()
    parts = []
    if sizes:
        mirrored = all(a == 2 * b for a, b in sizes)
        parts.append(f"{_join({a for a, _ in sizes})} training images"
                     + (f" ({_join({b for _, b in sizes})} + mirrors)" if mirrored else ""))
    parts.append(f"{_join({s.config.epochs for s in specs})} epochs")
    parts.append(f"{_join({len(runs) for runs in groups.values() if runs})} seeds per net")
    return "budget: " + ", ".join(parts)


def class_counts(groups):
    """{label: {number of classes of its runs' data}} (presets.classes), for the chance lines."""
    out = {}
    for label, runs in groups.items():
        try:
            out[label] = {presets.classes(s.config.data) for s in runs}
        except (KeyError, TypeError, ValueError):
            pass
    return out


CAPTION = {
    "train": "Training accuracy: the epoch-0 point is a clean evaluation of the untrained net on the training set; "
             "each later point is the running mean over that epoch's minibatches, each scored in its own step before "
             "the update (as Keras reported it), not an evaluation after the epoch.",
    "test": "Test accuracy: the net evaluated on the test set after each epoch (epoch 0: untrained).",
    "nofit": "Hollow grey circles or hatched bars (\"no fit\"): some run's mixture fit at that point does not "
             "represent its moments (relative moment error above 1, or a parameter on an end of its grid; "
             "analysis/spectra/mixture_fit.py), so "
             "the value is the grid's, not the spectrum's; the report's verdict on it is \"no fit\". A line whose "
             "every point is such is drawn faint.",
    "layers": "Per-layer panels with several epochs: lighter lines are earlier epochs.",
}


def _metrics(panel):
    found = [getattr(panel, k, None) for k in ("metric", "x", "y")] + list(getattr(panel, "metrics", ()))
    return [m for m in found if isinstance(m, str)]


def _has(ax, gid):
    return any(getattr(a, "get_gid", lambda: None)() == gid for a in ax.get_children())


def plot_figure(figure, curves, rows_by_group, path, subtitle="", groups=None):
    """The figure's PNG at `path` (draw_figure). groups: its runs ({label: [RunSpec, ...]},
    figure.groups(preset)), for the budget in the title and each panel's chance level; without them neither is
    drawn."""
    save_png(draw_figure(figure, curves, rows_by_group, subtitle, groups), path, tight=False)   # atomic


def draw_figure(figure, curves, rows_by_group, subtitle="", groups=None):
    """The figure's panels, title and caption as a matplotlib Figure (the caller closes it)."""
    panels = figure.panels
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    colors = Colors(figure.colors)            # a figure's own colors override its nets' (none does)
    by_label = class_counts(groups or {})
    every = set().union(*by_label.values())
    caption, chances = {}, set()
    for ax, panel, letter in zip(axes.flat, panels, "abcdefghij"):
        drawn = getattr(panel, "groups", None) or (rows_by_group if isinstance(panel, Scatter) else curves)
        classes = set().union(*(by_label[g] for g in drawn if g in by_label)) or every
        if isinstance(panel, Curve):
            draw_curve(ax, panel, curves, colors, rows_by_group, classes)
        elif isinstance(panel, Layers):
            draw_layers(ax, panel, curves, colors)
        elif isinstance(panel, Scatter):
            draw_scatter(ax, panel, rows_by_group, colors)
        else:   # a figure's own drawing function: panel(ax, curves, rows_by_group, colors)
            panel(ax, curves, rows_by_group, colors)
            if any(m.endswith("_acc") for m in _metrics(panel)) and classes:
                chance_line(ax, classes, getattr(panel, "percent", True))
        if getattr(panel, "log", False):
            ax.set_yscale("log")
        if not (ax.collections or ax.patches or ax.images or ax.texts
                or any(line.get_gid() != "chance" for line in ax.lines)):
            ax.text(0.5, 0.5, "no runs done yet", transform=ax.transAxes, ha="center", va="center",
                    color="grey", gid="no-data")
        title = f"({letter}) {getattr(panel, 'title', '') or ''}"
        for metric in _metrics(panel):
            if metric in ("train_acc", "test_acc"):
                caption[metric[:-4]] = CAPTION[metric[:-4]]
            found = index_range(metric)
            if found:
                grid, low, high = found
                title += f"\n{grid} grid: the index can only lie in [{low:.4g}, {high:.4g}]"
                name = metric.rsplit("/", 1)[1]
                caption[metric] = (f"On the {grid} grid the {name} index can only take values in [{low:.4g}, "
                                   f"{high:.4g}]: a flat line at an end of it is the grid's bound, not the spectrum.")
        ax.set_title(title, fontsize=9, loc="left")
        if _has(ax, "chance"):
            chances |= classes
        if _has(ax, "no-fit"):
            caption["nofit"] = CAPTION["nofit"]
        if isinstance(panel, Layers) and len(panel.epochs) > 1:
            caption["layers"] = CAPTION["layers"]
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if chances:
        caption["chance"] = ("Dotted grey line: chance, one over the data's number of classes ("
                             + "; ".join(f"{100 / c:.3g}% for {c} classes" for c in sorted(chances)) + ").")
    chars = 17 * 4.6 * cols             # characters of 7-pt text across the figure
    lines = [line for key in ("train", "test", "chance", "nofit") if key in caption
             for line in textwrap.wrap(caption.pop(key), int(chars))]
    lines += [line for text in caption.values() for line in textwrap.wrap(text, int(chars))]
    head = [f"{figure.name}: {figure.title}"] + [t for t in (subtitle, budget(groups or {})) if t]
    head = [line for text in head for line in textwrap.wrap(text, int(chars * 0.7))]     # the title is 10 pt
    fig.suptitle("\n".join(head), fontsize=10)
    if lines:
        width, height = fig.get_size_inches()
        extra = 0.13 * len(lines) + 0.1
        fig.set_size_inches(width, height + extra)
        fig.text(0.005, 0.005, "\n".join(lines), fontsize=7, ha="left", va="bottom", gid="caption")
        fig.tight_layout(rect=(0, extra / (height + extra), 1, 1))
    else:
        fig.tight_layout()
    return fig
