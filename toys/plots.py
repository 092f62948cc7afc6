"""Output helpers shared by the toy models: figures (PNG) and the numbers behind them (JSON).

Both are written atomically: to a temporary file in the target folder first,
then moved into place with os.replace, so a crash or Ctrl-C never leaves half a
file that looks like a result.
"""
import json
import os
import re
import tempfile

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110  # modest PNGs that are still readable in a README


def _atomic_write(path, write):
    """Call write(tmp_path), then move tmp_path onto path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)       # mkstemp makes files private; results are for reading
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _plain(obj):
    """NumPy scalars and arrays -> Python numbers and lists (rounded to 6 significant digits)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return None if not np.isfinite(x) else float(f"{x:.6g}")
    return obj


def save_json(path, data):
    """Write `data` (dicts, lists, numbers, NumPy arrays) as JSON, atomically."""
    text = json.dumps(_plain(data), indent=1)
    # one line per innermost list of numbers instead of one line per number
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text + "\n")

    _atomic_write(path, write)


def save_figure(fig, path):
    """Save a Matplotlib figure as PNG, atomically, and close it."""
    _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png"))
    plt.close(fig)


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
