"""Pictures of the analysis: spectral densities (as the paper's Fig 3d), meters per layer, and Fig S3."""
import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

from models.files import atomic_write  # noqa: E402

DPI = 110


def _save(fig, path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png"))
    plt.close(fig)


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
    _save(fig, path)


def density_of(result, points=4001):
    """(λ grid, p(λ)) of any method's result: the fitted mixture, or a Gaussian-smoothed quadrature.

    Exact eigenvalues and SLQ nodes are drawn with SLQ's smoothing (a kernel whose
    standard deviation is the spectral range / 100, about the resolution of 100
    Lanczos steps), so the pictures of the two are comparable; the fractions in the
    title come from the result itself, not from this curve.
    """
    from .spectra.slq import density, density_of as slq_density
    if result["method"] == "moments":
        from .spectra.moments import mixture_logpdf
        fit = result["fit"]
        p = fit["params"]
        reach = max(abs(p["xi"]) + 6 * p["omega"], 10 * fit["sigma0"])
        grid = numpy.linspace(-reach, reach, points)
        return grid, numpy.exp(mixture_logpdf(grid, p["w"], p["xi"], p["omega"], p["alpha"], fit["sigma0"]))
    if result["method"] == "slq":
        return slq_density(result, points=points)
    eigenvalues = numpy.asarray(result["eigenvalues"])
    sigma = max(numpy.ptp(eigenvalues) / 100, 1e-12)
    return density(eigenvalues, numpy.ones_like(eigenvalues), sigma, points=points)


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
    _save(fig, path)


def plot_activation_scale(results, path, title=""):
    """RMS of x_l against the hidden layer, log scale, one line per label; the logits' RMS as a marker at L+1.

    `results`: {label: an activation_scale result ({"layers", "logits", ...})}.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, r in results.items():
        layers = range(1, len(r["layers"]) + 1)
        line, = ax.semilogy(layers, r["layers"], "o-", ms=3, label=label)
        ax.semilogy([len(r["layers"]) + 1], [r["logits"]], "*", ms=9, color=line.get_color())
    ax.semilogy([], [], "*", color="gray", label="logits (at L+1)")
    ax.set(xlabel="hidden layer", ylabel="RMS of x_l", title=title)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_validation(rows, path):
    """Fig S3's layout: estimated against exact fractions, one panel for degenerate and one for negative."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
    for ax, kind in zip(axes, ("degenerate", "negative")):
        exact = numpy.array([r[f"exact_{kind}"] for r in rows])
        for method, color in (("moments", "tab:red"), ("slq", "tab:blue")):
            estimate = numpy.array([r[f"{method}_{kind}"] for r in rows])
            label = "mixture fit (paper)" if method == "moments" else "SLQ"
            ax.scatter(exact, estimate, s=18, color=color, label=label)
            if len(rows) > 1 and numpy.ptp(exact) > 0:
                slope, intercept = numpy.polyfit(exact, estimate, 1)
                xs = numpy.linspace(exact.min(), exact.max(), 2)
                ax.plot(xs, slope * xs + intercept, color=color, lw=0.8)
        low = min(ax.get_xlim()[0], ax.get_ylim()[0])
        high = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="identity")
        ax.set(xlabel=f"exact {kind} fraction", ylabel=f"estimated {kind} fraction", title=kind)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


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
    _save(fig, path)
