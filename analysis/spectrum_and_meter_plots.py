"""Pictures of one net's measurements: its spectral density (as the paper's Fig 3d), its meters per layer, and its
per-layer spectra, as `spectrum` and `singularities` draw them."""
import numpy
from matplotlib.ticker import MaxNLocator

from .png import plt, save_png
from .spectra.density import density_of


def plot_density(result, path, title=""):
    """log p(λ) against λ, with the degenerate window shaded; `result` from any of the three methods."""
    grid, values = density_of(result)
    w = result["fractions"]["window"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.semilogy(grid, numpy.maximum(values, 1e-12), color="black", lw=1.2)
    ax.axvspan(-w, w, color="tab:orange", alpha=0.3, label=f"degenerate window |λ| ≤ {w:g}")
    fr = result["fractions"]
    ax.set(xlabel="eigenvalue λ", ylabel="density p(λ)", ylim=(1e-10, None),
           title=f"{title}\ndegenerate {fr['degenerate']:.3f}, negative {fr['negative']:.3f}")
    ax.legend(loc="upper right", fontsize=8)
    save_png(fig, path)


# The one set of names of the singularity meters: the `singularities` table's columns (analysis/readouts.py), the
# titles of meters.png's panels and docs/guide.md's table. (name, meters.json key, what it measures.)
SINGULARITY_NAMES = (
    ("norm", "elimination", "mean norm of the units' incoming weight vectors (near 0: elimination)"),
    ("overlap", "overlap", "mean correlation of two units' incoming weights (near 1: overlap)"),
    ("zero", "zero_responses", "share of (unit, example) pairs with ReLU response 0"),
    ("silent", "silent_units", "share of units with ReLU response 0 on every example (they never fire)"),
    ("erank", "linear_dependence", "effective rank of the layer's responses (low: linearly dependent units)"),
    ("top3", "linear_dependence", "share of the responses' variance in their top 3 principal components"),
    ("grad", "gradient_norms", "mean norm of the per-example loss gradient at the layer's output"),
    ("rms", "activation_scale", "RMS of the layer's output over examples and units"),
)
SOURCE_LABELS = {"out": "layer output", "relu": "ReLU branch"}     # the two sources of erank and top3
FRACTIONS = ("zero", "silent", "top3")                             # shares in [0, 1]


def singularity_columns(result):
    """[(name, {source: {"layers", "mean", ...}})] of an all_meters result (a meters.json), in SINGULARITY_NAMES'
    order: erank and top3 have a source per kind of response ("out", and "relu" where it differs from "out");
    the others have the one source "". Meters the result does not hold (an older file, a subset) are left out."""
    columns = []
    for name, key, _ in SINGULARITY_NAMES:
        value = result.get(key)
        if not isinstance(value, dict):
            continue
        if key != "linear_dependence":
            columns.append((name, {"": value}))
            continue
        sources = {s: stats[name] for s, stats in value.items() if isinstance(stats, dict) and name in stats}
        if "out" in sources and "relu" in sources and sources["relu"]["layers"] == sources["out"]["layers"]:
            del sources["relu"]                 # a plain net: its layer output is its ReLU branch
        if sources:
            columns.append((name, sources))
    return columns


def plot_meters(result, path, title=""):
    """meters.png: one panel per singularity meter (SINGULARITY_NAMES) in a grid of at most 4 columns, the value
    against the hidden layer with its mean over layers as a dashed line, and a legend naming every line."""
    columns = singularity_columns(result)
    if not columns:
        raise ValueError("this result holds no singularity meter to draw")
    described = {name: what for name, _, what in SINGULARITY_NAMES}
    ncols = min(4, len(columns))
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax, (name, sources) in zip(axes.flat, columns):
        positive = True
        for (source, meter), marker in zip(sources.items(), ("o-", "s:")):
            values = numpy.array([numpy.nan if v is None else v for v in meter["layers"]], dtype=float)
            layers = numpy.arange(1, len(values) + 1)
            label = SOURCE_LABELS.get(source, "per layer")
            ax.plot(layers, values, marker, ms=3, lw=1.2, label=label)
            first = meter.get("include_first", True)
            over = "layers 2–L" if not first and len(values) > 1 else "all layers"
            ax.axhline(meter["mean"], ls="--", lw=0.9, color=ax.lines[-1].get_color(),
                       label=f"mean of {label}, {over}: {meter['mean']:.3g}" if len(sources) > 1
                       else f"mean, {over}: {meter['mean']:.3g}")
            finite = values[numpy.isfinite(values)]
            positive = positive and finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 100
        if positive and name in ("grad", "rms"):
            ax.set_yscale("log")
        if name in FRACTIONS:
            ax.set_ylim(-0.03, 1.03)
        ax.set_title(_wrap(f"{name}: {described[name]}", 48), fontsize=8)
        ax.set_xlabel("hidden layer", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))      # layers are whole numbers
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="best")
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def _wrap(text, width):
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def per_layer_panels(result):
    """[(title, values per block)] of a per_layer_spectra result: one panel per quantity (no extremes for moments)."""
    blocks = result["blocks"]
    panels = [("degenerate fraction", [b["fractions"]["degenerate"] for b in blocks]),
              ("negative fraction", [b["fractions"]["negative"] for b in blocks])]
    if any(b["max"] is not None for b in blocks):
        kind = "eigenvalue" if result["method"] == "exact" else "Ritz value"
        panels += [(f"largest {kind}", [b["max"] for b in blocks]), (f"smallest {kind}", [b["min"] for b in blocks])]
    panels.append(("leakage", [b["leakage"] for b in blocks]))
    return panels


def plot_per_layer(result, path, title=""):
    """One panel per quantity of a per-layer spectrum (fractions, extremes, leakage), the blocks on the x axis."""
    panels = per_layer_panels(result)
    names = [b["block"] for b in result["blocks"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), squeeze=False)
    every = max(1, len(names) // 12)       # at most about a dozen names under each panel
    for ax, (name, values) in zip(axes[0], panels):
        ax.plot(range(len(values)), [numpy.nan if v is None else v for v in values], "o-", ms=3)
        ax.set_xticks(range(0, len(names), every), names[::every], rotation=90, fontsize=7)
        ax.set(xlabel="layer", title=name)
        if name.endswith("fraction") or name == "leakage":
            ax.set_ylim(-0.03, 1.03)
    fig.suptitle(f"{title}\nwindow |λ| ≤ {result['window']:g}" if title else f"window |λ| ≤ {result['window']:g}",
                 fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
