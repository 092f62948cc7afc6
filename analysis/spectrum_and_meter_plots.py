"""Pictures of one net's measurements: its spectral density (as the paper's Fig 3d), its meters per layer, and its
per-layer spectra, as `spectrum` and `singularities` draw them."""
import numpy

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


def meter_panels(result):
    """[(label, {"layers": [...], "mean": x})] of an all_meters result, nested measures flattened."""
    panels = []
    for name, value in result.items():
        if isinstance(value, dict) and "layers" in value:
            panels.append((name.replace("_", " "), value))
        elif name == "linear_dependence":
            for source, measures in value.items():
                for measure in ("erank", "top3"):
                    if measure in measures:
                        panels.append((f"{measure} ({source})", measures[measure]))
    return panels


def plot_meters(result, path, title=""):
    """One panel per meter: its value against the hidden layer, with the mean as a dashed line."""
    panels = meter_panels(result)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.0), squeeze=False)
    for ax, (name, meter) in zip(axes[0], panels):
        values = [numpy.nan if v is None else v for v in meter["layers"]]
        ax.plot(range(1, len(values) + 1), values, "o-", ms=3)
        ax.axhline(meter["mean"], ls="--", color="gray", lw=0.8)
        ax.set(xlabel="hidden layer", title=name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


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
