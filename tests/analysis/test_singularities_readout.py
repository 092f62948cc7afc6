"""`singularities` readable: its table fits 80 columns untruncated, its figure is a grid with legends, and the table,
the figure and docs/guide.md use one set of names."""
import json
import os
import re

import numpy
import pytest
from rich.console import Console

import cli
from analysis import spectrum_and_meter_plots as plots
from analysis.meters import all_meters
from analysis.readouts import _short, singularities_readout
from analysis.spectrum_and_meter_plots import SINGULARITY_NAMES, plot_meters, singularity_columns
from models import build

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = [name for name, _, _ in SINGULARITY_NAMES]


def _result(skip, depth=30, width=16, samples=64):
    model = build(dict(inputs=20, width=width, depth=depth, classes=5, skip=skip, seed=0, dtype="float64"))
    rng = numpy.random.default_rng(0)
    result = all_meters(model, rng.standard_normal((samples, 20)), rng.integers(0, 5, samples))
    return json.loads(json.dumps(dict(result, source="a fresh net")))       # as meters.json reads back


def _extreme():
    """The widest cells there can be: negative tiny overlaps, huge activations, a missing value, NaN."""
    result = _result("hyperres")
    n = len(result["overlap"]["layers"])
    result["overlap"]["layers"] = [-1.234e-7 * (i + 1) for i in range(n)]
    result["activation_scale"]["layers"] = [-(3.3e15 ** ((i + 1) / n)) for i in range(n)]
    result["gradient_norms"]["layers"][3] = None
    result["elimination"]["layers"][4] = float("nan")
    result["zero_responses"]["layers"][5] = 1.0
    return result


def _rendered(result, what="runs/hyperres-d30-cifar100-s0-3a4206aed1 at epoch 100"):
    title, columns, rows, lines = singularities_readout(result, what)
    console = Console(width=80, record=True, color_system=None)
    console.print(cli._table(title, columns, rows, first_left=False))      # as the singularities command draws it
    return console.export_text(), columns, rows, lines


@pytest.mark.parametrize("case", ["hyperres", "plain", "residual", "extreme"])
def test_the_table_fits_80_columns_with_nothing_truncated(case):
    result = _extreme() if case == "extreme" else _result(case)
    text, columns, rows, lines = _rendered(result)
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    header = next(line for line in text.splitlines() if "layer" in line and "norm" in line)
    assert re.findall(r"[a-z0-9]+", header) == list(columns)                # every header whole, on one line
    assert list(columns) == ["layer", *NAMES]
    for row in rows:
        assert re.findall(r"\S+", re.sub(r"[│┃]", " ", next(line for line in text.splitlines()
                                                               if line.startswith(f"│ {row[0]:>5} │")))) == list(row)
        assert all(len(cell) <= 7 for cell in row)
    assert [row[0] for row in rows] == [str(i) for i in range(1, 31)] + ["mean"]
    assert lines[0].startswith("runs/hyperres-d30") and "30 hidden layers, 64 examples" in lines[0]
    assert [line.split(":")[0] for line in lines[1:1 + len(NAMES)]] == NAMES     # what each column means
    assert all(len(line) <= 80 for line in lines[1:])


def test_numbers_are_short_and_fractions_have_three_decimals():
    assert [_short(v) for v in (0.0, 1.0, 18.04, 123.6, 0.1, 999.4, 999.6, 1.234e-4, -1.234e-7, 3.4e8, -2.5e15)] == \
        ["0", "1.00", "18.0", "124", "0.100", "999", "1.0e3", "1.2e-4", "-1.2e-7", "3.4e8", "-2.5e15"]
    assert _short(float("nan")) == "nan" and _short(float("inf")) == "inf"
    _, columns, rows, _ = _rendered(_extreme())
    zero, silent = columns.index("zero"), columns.index("silent")
    assert rows[5][zero] == "1.000" and re.fullmatch(r"\d\.\d{3}", rows[0][silent])
    assert rows[3][columns.index("grad")] == "–"


def test_an_older_meters_json_still_reads():
    """Files written before silent units (or with a subset of meters) give the columns they hold."""
    result = _result("residual", depth=4)
    del result["silent_units"], result["gradient_norms"]
    _, columns, rows, lines = singularities_readout(result, "old")
    assert "silent" not in columns and "grad" not in columns and len(rows) == 5
    assert not any(line.startswith(("silent:", "grad:")) for line in lines)


def _figure(result, monkeypatch, tmp_path):
    drawn = []
    real = plots.save_png
    monkeypatch.setattr(plots, "save_png", lambda fig, path: (drawn.append((fig, list(fig.axes))), real(fig, path)))
    plot_meters(result, str(tmp_path / "meters.png"), title="a fresh net")
    return drawn[0]


@pytest.mark.parametrize("skip", ["hyperres", "plain"])
def test_the_figure_is_a_grid_with_a_legend_on_every_panel(skip, monkeypatch, tmp_path):
    from PIL import Image
    fig, axes = _figure(_result(skip), monkeypatch, tmp_path)
    shown = [ax for ax in axes if ax.get_visible()]
    assert len(shown) == len(NAMES)
    rows = {round(ax.get_position().y0, 3) for ax in shown}
    cols = {round(ax.get_position().x0, 3) for ax in shown}
    assert len(rows) >= 2 and len(cols) >= 2                            # a grid, not a strip
    width, height = Image.open(tmp_path / "meters.png").size
    assert 1 <= width / height <= 3
    for ax, name in zip(shown, NAMES):
        assert ax.get_title().startswith(f"{name}: ")                   # the table's name, then what it is
        styles = {line.get_linestyle() for line in ax.lines}
        legend = ax.get_legend()
        assert legend is not None and len(styles) > 1 and "--" in styles
        labels = [t.get_text() for t in legend.get_texts()]
        assert len(labels) == len(ax.lines) and any(label.startswith("mean") for label in labels)
    erank = shown[NAMES.index("erank")]
    assert len(erank.lines) == (4 if skip == "hyperres" else 2)         # ReLU branch drawn where it differs


def test_the_guide_names_every_column_as_the_table_does():
    with open(os.path.join(REPO, "docs", "guide.md")) as f:
        guide = f.read()
    section = guide[guide.index("## Singularity meters"):]
    section = section[:section.index("\n## ", 3)]
    named = re.findall(r"^\| `([a-z0-9]+)` \|", section, flags=re.M)
    assert named == NAMES
    for name, key, _ in SINGULARITY_NAMES:
        assert f"[`{key}`]" in section                                   # where meters.json keeps it
    assert "never fires" in section                                      # what a silent unit is
    assert [name for name, _ in singularity_columns(_result("plain", depth=3))] == NAMES
