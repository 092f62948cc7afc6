"""One PNG per figure: its panels side by side, like the paper's, from the aggregated numbers."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import aggregate  # noqa: E402
from .spec import Curve, Layers, Scatter  # noqa: E402

DPI = 110
COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _groups(panel, curves):
    return [g for g in (panel.groups or curves) if g in curves]


def draw_curve(ax, panel, curves, colors):
    for g in _groups(panel, curves):
        c = curves[g].get(panel.metric)
        if not c:
            continue
        scale = 100.0 if panel.percent else 1.0
        pairs = [(e, m * scale, (s or 0.0) * scale) for e, m, s in zip(c["epochs"], c["mean"], c["se"]) if m is not None]
        if not pairs:
            continue
        e, m, s = zip(*pairs)
        ax.plot(e, m, marker="." if len(e) < 12 else None, color=colors[g], label=g)
        ax.fill_between(e, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=colors[g], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel)


def draw_layers(ax, panel, curves, colors):
    styles = ["-", "--", ":", "-."]
    for g in _groups(panel, curves):
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
                ax.plot(x, y, styles[i % len(styles)], color=colors[g], label=f"{g}, epoch {epoch}")
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(panel.ylabel)


def draw_scatter(ax, panel, rows_by_group, colors):
    lo, hi = math.inf, -math.inf
    for g in [g for g in (panel.groups or rows_by_group) if g in rows_by_group]:
        points = [(aggregate.value_at(r, panel.x, "last"), aggregate.value_at(r, panel.y, "last"))
                  for r in rows_by_group[g]]
        points = [p for p in points if None not in p]
        if points:
            x, y = zip(*points)
            ax.scatter(x, y, s=14, color=colors[g], label=g)
            lo, hi = min(lo, *x, *y), max(hi, *x, *y)
    if panel.identity and lo < hi:
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)


def plot_figure(figure, curves, rows_by_group, path, subtitle=""):
    panels = figure.panels
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    colors = {g: COLORS[i % len(COLORS)] for i, g in enumerate(curves)}
    colors.update(figure.colors)
    for ax, panel, letter in zip(axes.flat, panels, "abcdefghij"):
        if isinstance(panel, (Curve, Layers)) and panel.groups:     # a panel's own few curves: distinct colors
            local = {g: colors[g] if g in figure.colors else COLORS[i % len(COLORS)]
                     for i, g in enumerate(panel.groups)}
        else:
            local = colors
        if isinstance(panel, Curve):
            draw_curve(ax, panel, curves, local)
        elif isinstance(panel, Layers):
            draw_layers(ax, panel, curves, local)
        elif isinstance(panel, Scatter):
            draw_scatter(ax, panel, rows_by_group, colors)
        else:   # a figure's own drawing function: panel(ax, curves, rows_by_group, colors)
            panel(ax, curves, rows_by_group, colors)
        if getattr(panel, "log", False):
            ax.set_yscale("log")
        ax.set_title(f"({letter}) {getattr(panel, 'title', '') or ''}", fontsize=9, loc="left")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{figure.name}: {figure.title}" + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
