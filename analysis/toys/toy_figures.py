"""The toy figures' panels (a row or a grid of common-size axes, a mark at a measured time) and their files:
the PNG (analysis/png.py) and the JSON of the numbers behind it, both written atomically (models/files.py)."""
import json
import re

from models.files import jsonable, write_text

from ..png import plt, save_png


def save_json(path, data):
    """Write `data` (dicts, lists, numbers, NumPy arrays) as JSON, atomically."""
    text = json.dumps(jsonable(data, digits=6), indent=1)
    # one line per innermost list of numbers instead of one line per number
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    write_text(path, text + "\n")


def save_figure(fig, path):
    """Save a Matplotlib figure as PNG, atomically, and close it."""
    save_png(fig, path)


def figure(n_panels, width=4.6, height=3.8):
    """A row of n_panels axes of a common size."""
    fig, axes = grid(1, n_panels, width, height)
    return fig, axes[0]


def grid(n_rows, n_cols, width=4.6, height=3.8):
    """An n_rows x n_cols array of axes of a common size."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False)
    return fig, axes


def mark_time(ax, t, color, label=None):
    """A dotted vertical line at a measured time (skipped when the event never happened)."""
    if t is not None:
        ax.axvline(t, color=color, ls=":", lw=1, label=label)
