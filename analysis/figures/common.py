"""Building blocks shared by the figure definitions."""
import numpy

from models.training import TrainConfig

from ..measurement_plan import plan
from ..reproduction.spec import RunSpec

CIFAR = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
INDEX_NOTE = ("The degeneracy and negativity indices are the paper's: Skilling moments and the 57⁴-grid mixture fit "
              "(analysis/spectra/mixture_fit.py), window |λ| ≤ 3e-3. With the grid's tail weight w ≤ 1e-3 the narrow Gaussian "
              "always holds ≥ 99.9% of the mass, so the degeneracy index can only move within about [0.9963, "
              "0.9973]: an ordering of the indices is an ordering of the fitted tail weight, not of the spectrum's "
              "mass near zero (figS3 compares it with exact spectra; the README's results say what the fits can hold).")


def mlp(preset, stem, *, data, seed, epochs, depth=30, width=128, methods=("moments",), hessian_epochs=None,
        dtype="float32", pca=None, preprocess=None, **model):
    """A RunSpec for one of the paper's fully connected nets (sizes shrunk by the test preset)."""
    depth, width = preset.shape(depth, width)
    options = {k: v for k, v in (("pca", pca), ("preprocess", preprocess)) if v is not None}
    config = TrainConfig(model={"arch": "mlp", "depth": depth, "width": width, **model},
                         data=preset.data(data, **options), epochs=epochs, seed=seed, dtype=dtype)
    variant = "".join(f"-{model[k]}" for k in ("skip_scale", "branch_init", "hyper_q_draw") if k in model)
    variant += f"-{preprocess}" if preprocess else ""
    return RunSpec(config, plan(preset, epochs, methods, hessian_epochs), f"{stem}-d{depth}{variant}-{data}-s{seed}")


def seeds(preset, counts):
    return range(preset.pick(counts))


def fitted_spectra(groups=None, at="early"):
    """A panel: the fitted mixture density log10 q(λ) of each group's first run at its early Hessian epoch (Fig 3d).

    A fit that does not represent its moments (the reports' "no fit") is drawn faint, with hollow grey markers."""
    from analysis.spectra.mixture_fit import mixture_logpdf
    from ..reproduction import aggregate

    def draw(ax, curves, rows_by_group, colors):
        from ..reproduction.figure_plots import mark_no_fit, no_fit_epochs, style
        lam = numpy.linspace(-50, 50, 2001)
        for g in groups or rows_by_group:
            if not rows_by_group.get(g):
                continue
            rows = rows_by_group[g][0]
            params = [aggregate.value_at(rows, f"hessian/{p}", at) for p in ("w", "xi", "omega", "alpha")]
            if None in params:
                continue
            epoch = aggregate.epoch_of(rows, "hessian/w", at)
            density = mixture_logpdf(lam, *params) / numpy.log(10)
            failed = epoch in no_fit_epochs([rows], "hessian/w")
            ax.plot(lam, density, color=colors[g], ls=style(g)["ls"], alpha=0.45 if failed else 1.0,
                    label=f"{g} (epoch {epoch})")
            if failed:
                mark_no_fit(ax, lam[::250], density[::250])
        ax.set_ylim(-10, 3)
        ax.set_xlabel("eigenvalue λ")
        ax.set_ylabel("log10 q(λ), fitted mixture")
    draw.title = "fitted spectra, first run"
    return draw
