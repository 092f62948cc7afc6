"""Matplotlib for files only, the lab's one DPI, and the one way a figure is saved: as PNG, atomically.

Every module that draws imports pyplot from here, so the Agg backend is chosen (before pyplot loads) in one
place, and every PNG goes through models.files.atomic_write: a crash or a full disk leaves the previous
file, never half of a new one.
"""
import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from models.files import atomic_write  # noqa: E402

DPI = 110  # modest PNGs that are still readable in a README

__all__ = ["DPI", "plt", "save_png"]


def save_png(fig, path, tight=True):
    """Save a Matplotlib figure as PNG at `path` through atomic_write, then close it (also when saving fails).

    tight: crop to the drawn content (bbox_inches="tight"); the paper figures keep their full canvas."""
    crop = {"bbox_inches": "tight"} if tight else {}
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png", **crop))
    finally:
        plt.close(fig)
