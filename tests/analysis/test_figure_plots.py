"""The figures a reader can trust at a glance: no-fit marks, one style per net, chance lines, budget and caption.

Every figure here is drawn from a few synthetic rows (no training): the test preset's run specs give the budget
and the data's class counts, the rows give the curves.
"""
import matplotlib
import matplotlib.pyplot as plt
import pytest

from analysis.figures import fidelity, fig3, fig5, fig6
from analysis.reproduction import aggregate, presets
from analysis.reproduction.figure_plots import Colors, draw_figure, split_label
from analysis.reproduction.reproduce import runs_per_net

PRESET = presets.get("test")
EPOCHS = (0, 1, 2)


def _rows(seed, acc, degeneracy, fit_ok=1.0, rms=1.0):
    out = []
    for e in EPOCHS:
        row = {"epoch": e, "train_acc": acc * e + 0.01 * seed, "test_acc": acc * e, "hessian/fit_ok": fit_ok,
               "hessian/degeneracy": degeneracy + 1e-5 * e + 1e-6 * seed, "hessian/negativity": 0.0015 + 1e-5 * acc,
               "hessian/w": 1e-9 if fit_ok == 0 else 5e-4, "hessian/xi": 1.0, "hessian/omega": 3.0,
               "hessian/alpha": 0.0}
        row.update({f"meters/rms/layer{k:02d}": rms * k for k in range(1, 5)})
        row.update({f"meters/grad/layer{k:02d}": rms / k for k in range(1, 5)})
        out.append(row)
    return out


def _draw(figure, failing=(), same_rms=()):
    """figure drawn from synthetic rows: groups whose label contains a name in `failing` have fits that miss
    their moments; those naming one of `same_rms` share one per-layer RMS profile."""
    groups = figure.groups(PRESET)
    rows_by_group = {}
    for i, label in enumerate(groups):
        net = split_label(label)[0]
        rows_by_group[label] = [_rows(s, 0.1 + 0.02 * i, 0.9970 - 0.0001 * i, 0.0 if net in failing else 1.0,
                                      1.0 if net in same_rms else 2.0 + i) for s in range(2)]
    curves = {label: aggregate.curves(rows) for label, rows in rows_by_group.items()}
    return draw_figure(figure, curves, rows_by_group, "preset test; mean ± SE over 2 runs", groups=groups)


def _gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []


@pytest.fixture
def close():
    figures = []
    yield figures.append
    for f in figures:
        plt.close(f)


def test_values_of_failing_fits_are_marked_no_fit_with_the_grids_range(close):
    fig = _draw(fig3.FIGURE, failing=("Hyperres",))
    close(fig)
    acc, degeneracy, negativity, spectra = fig.axes[:4]
    for ax in (degeneracy, negativity):
        marks = _gid(ax, "no-fit")
        assert len(marks) == 1 and list(marks[0].get_xdata()) == list(EPOCHS)     # Hyperres's points, no others
        assert marks[0].get_markerfacecolor() == "white"                           # hollow
        assert "no fit" in _legend(ax)
    assert "[0.9963, 0.9973]" in degeneracy.get_title(loc="left")                  # the paper grid's whole range
    assert "[0.001349, 0.002349]" in negativity.get_title(loc="left")
    assert _gid(spectra, "no-fit") and "no fit" in _legend(spectra)               # Fig 3d's fitted spectrum too
    assert not _gid(acc, "no-fit") and "no fit" not in _legend(acc)
    caption = _gid(fig, "caption")[0].get_text()
    assert '"no fit"' in caption and "[0.9963, 0.9973]" in caption

    fine = _draw(fig3.FIGURE)
    close(fine)
    assert not any(_gid(ax, "no-fit") for ax in fine.axes)


def test_fidelity_bars_of_failing_fits_are_hatched_no_fit(close):
    fig, ax = plt.subplots()
    close(fig)
    rows = {f"{s} / fig3 {net}": [_rows(0, 0.1, 0.997, 0.0 if net == "Hyperres" else 1.0)]
            for s in fidelity.SETTINGS for net in ("Plain", "Hyperres")}
    fidelity._bars("hessian/degeneracy", "fig3", ("Plain", "Hyperres"), "degeneracy", at="early")(
        ax, {}, rows, Colors())
    assert len(_gid(ax, "no-fit")) == len(fidelity.SETTINGS)
    assert "no fit" in ax.get_legend_handles_labels()[1]


def _styles(fig):
    """{net label: {(colour, line style)}} of every labelled line in every panel of `fig`."""
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if label.startswith("_") or line.get_gid() in ("no-fit", "chance"):
                continue
            label = label.split(", epoch ")[0].split(" (epoch ")[0]
            out.setdefault(label, set()).add((matplotlib.colors.to_hex(line.get_color()), line.get_linestyle()))
    return out


def test_one_colour_and_line_style_per_net_in_every_panel_of_every_figure(close):
    figures = [_draw(f) for f in (fig3.FIGURE, fig5.FIGURE, fig6.FIGURE)]
    for f in figures:
        close(f)
    styles = [_styles(f) for f in figures]
    by_net = {}
    for found in styles:
        for label, looks in found.items():
            assert len(looks) == 1, (label, looks)                    # one look in every panel of a figure
            by_net.setdefault(split_label(label)[0], set()).update(looks)
    assert all(len(looks) == 1 for looks in by_net.values()), by_net   # and the same net looks so in every figure
    assert styles[0]["Residual"] == styles[2]["Residual"]              # Fig 3 and Fig 6: one label, one colour
    assert styles[0]["Plain"] == styles[2]["Plain"]
    fig5_panels = figures[1].axes
    colour = {ax: {line.get_label(): line.get_color() for line in ax.get_lines()} for ax in fig5_panels[1:3]}
    b, c = fig5_panels[1:3]                                           # the panels that used to swap colours
    assert colour[b]["Residual (CIFAR-100)"] == colour[c]["Residual (CIFAR-100)"]
    assert colour[b]["Plain (CIFAR-100)"] == colour[c]["Plain (CIFAR-100)"]
    assert len({colour[c][g] for g in colour[c] if not g.startswith("_")}) == 3


def test_curves_that_coincide_exactly_are_named_on_their_panel(close):
    fig = _draw(fig5.FIGURE, same_rms=("BiasReg", "BiasL2Reg", "Plain"))
    close(fig)
    (note,) = _gid(fig.axes[3], "coincide")
    text = " ".join(note.get_text().split())
    assert "BiasReg (CIFAR-100), BiasL2Reg (CIFAR-100) and Plain (CIFAR-100) coincide exactly" in text
    assert "Residual" not in text
    assert not any(_gid(ax, "coincide") for ax in fig.axes[:3])       # distinct curves: no note


def test_accuracy_panels_have_a_chance_line_from_the_datas_classes(close):
    fig = _draw(fig5.FIGURE)
    close(fig)
    cifar10, cifar100, degeneracy = fig.axes[:3]
    assert presets.classes(PRESET.data("cifar10")) == 10 and presets.classes(PRESET.data("cifar100")) == 20
    for ax, chance in ((cifar10, 10.0), (cifar100, 5.0)):
        (line,) = _gid(ax, "chance")
        assert list(line.get_ydata()) == [chance, chance] and line.get_linestyle() == ":"
    assert not _gid(degeneracy, "chance")
    title = fig._suptitle.get_text()
    assert "preset test" in title and "240 training images (120 + mirrors), 2 epochs, 2 seeds per net" in title
    caption = " ".join(_gid(fig, "caption")[0].get_text().split())
    assert "epoch-0 point is a clean evaluation" in caption and "running mean over that epoch's minibatches" in caption
    assert "10% for 10 classes; 5% for 20 classes" in caption


def test_the_budget_and_class_counts_of_the_presets_data():
    quick = presets.get("quick")
    assert presets.training_images(quick.data("cifar100")) == (10000, 5000)
    assert presets.training_images(presets.get("paper").data("cifar10")) == (100000, 50000)
    assert presets.training_images({"name": "svhn"}) == (73257, 73257)          # digits are not mirrored
    assert presets.classes({"name": "cifar100", "labels": "fine"}) == 100


def test_index_ranges_hold_every_fit_on_their_grid():
    from analysis.spectra.mixture_fit import fit_mixture, index_ranges, mixture_moments, wide_grids
    paper, wide = index_ranges(), index_ranges(wide_grids())
    assert paper["degenerate"] == pytest.approx((0.99630, 0.99730), abs=1e-5)
    assert paper["negative"] == pytest.approx((0.001349, 0.002349), abs=1e-6)
    assert wide["degenerate"][0] < 0.5 < paper["degenerate"][0]
    for w, xi, omega, alpha in ((5e-4, 10.0, 3.0, 1.0), (0.2, 0.0, 0.2, 0.0)):
        moments = mixture_moments(w, xi, omega, alpha)
        for grids, ranges in ((None, paper), (wide_grids(), wide)):
            fit = fit_mixture(moments, grids)
            assert ranges["degenerate"][0] <= fit.degeneracy_index <= ranges["degenerate"][1]
            assert ranges["negative"][0] <= fit.negativity_index <= ranges["negative"][1]


def test_a_subtitle_counts_runs_per_net_when_the_counts_differ():
    assert runs_per_net({"Plain": 3, "Residual": 3}) == "3 runs"
    assert runs_per_net({"Plain": 5, "Residual": 3}) == "runs per net: Plain 5, Residual 3"


def test_a_panel_whose_runs_are_not_done_says_so_and_a_long_subtitle_wraps_inside_the_figure(close):
    figure = fig5.FIGURE
    groups = figure.groups(PRESET)
    rows_by_group = {label: [_rows(s, 0.1, 0.997) for s in range(2)] for label in groups if "CIFAR-100" in label}
    curves = {label: aggregate.curves(rows) for label, rows in rows_by_group.items()}
    subtitle = runs_per_net({label: (2 if label in rows_by_group else 0) for label in groups})
    fig = draw_figure(figure, curves, rows_by_group, subtitle, groups=groups)
    close(fig)
    cifar10, cifar100 = fig.axes[:2]
    assert [t.get_text() for t in _gid(cifar10, "no-data")] == ["no runs done yet"]
    assert not _gid(cifar100, "no-data") and _gid(cifar10, "chance")
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    width = fig.get_size_inches()[0] * fig.dpi
    assert 0 <= box.x0 and box.x1 <= width, (box, width)             # the subtitle of ten nets fits the figure
    assert "Plain (CIFAR-100) 2" in " ".join(fig._suptitle.get_text().split())
