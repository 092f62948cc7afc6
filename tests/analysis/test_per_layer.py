"""The per-layer figure end to end at the test preset: measured from its runs once, kept, and reused."""
import json
import os

import numpy
import pytest

from analysis.figures import FIGURES, per_layer
from analysis.reproduction import presets
from analysis.reproduction.reproduce import reproduce
from analysis.reproduction.sweep import Sweep

TEST = presets.get("test")
CURVES = ("Plain", "Plain (small)")          # one net measured by SLQ blocks, one by exact blocks


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("per-layer")
    reproduce(FIGURES[per_layer.NAME], TEST, Sweep(root), curves=CURVES, seeds=1)
    return root


def _numbers(root):
    with open(os.path.join(root, per_layer.NAME, "numbers.json")) as f:
        return json.load(f)


def test_every_layer_is_measured_at_initialization_and_after_training(measured):
    curves = _numbers(measured)["curves"]
    for label in CURVES:
        spec = per_layer.groups(TEST)[label][0]
        depth, last = spec.config.model["depth"], spec.config.epochs
        for quantity in ("degenerate", "leakage"):          # the curves the figure draws, per hidden layer
            for layer in range(1, depth + 1):
                curve = curves[label][f"per_layer/{quantity}/layer{layer:02d}"]
                assert curve["epochs"] == [0, last] and curve["n"] == [1, 1], (label, layer, curve)
                assert all(0 <= v <= 1 for v in curve["mean"]), (label, layer, curve)
        with open(os.path.join(measured, per_layer.NAME, "measured", spec.name + ".json")) as f:
            kept = json.load(f)["epochs"]
        for epoch in ("0", str(last)):                       # every block, the output's too, is kept
            for quantity in ("degenerate", "negative", "leakage"):
                assert {f"per_layer/{quantity}/layer{layer:02d}" for layer in range(1, depth + 1)} | {
                    f"per_layer/{quantity}/output"} <= set(kept[epoch]), (label, epoch, quantity)
    # the exact blocks of the small net are compared with the run's own exact spectrum of H
    assert "per_layer/full_minus_pooled" in curves["Plain (small)"]
    assert "per_layer/full_minus_pooled" not in curves["Plain"]


def test_each_run_is_measured_once_with_its_method_and_kept(measured, monkeypatch):
    for label, method in zip(CURVES, ("slq", "exact")):
        spec = per_layer.groups(TEST)[label][0]
        with open(os.path.join(measured, per_layer.NAME, "measured", spec.name + ".json")) as f:
            kept = json.load(f)
        assert kept["error"] is None and kept["settings"]["method"] == method
        assert sorted(kept["epochs"], key=int) == ["0", str(spec.config.epochs)]
    before = _numbers(measured)["curves"]

    def measured_again(*args, **kwargs):
        raise AssertionError("a kept measurement was measured again")
    monkeypatch.setattr(per_layer, "measure_run", measured_again)
    reproduce(FIGURES[per_layer.NAME], TEST, Sweep(measured), curves=CURVES, seeds=1)
    assert _numbers(measured)["curves"] == before


def test_a_run_that_cannot_be_measured_says_why_and_keeps_its_rows(measured, tmp_path, monkeypatch):
    spec = per_layer.groups(TEST)["Plain"][0]
    rows = [{"epoch": 0, "test_acc": 0.1}, {"epoch": spec.config.epochs, "test_acc": 0.2}]
    sweep = Sweep(tmp_path / "elsewhere")                  # no run folder there: nothing to load
    out = tmp_path / "figure"
    assert per_layer.measure(spec, rows, sweep, TEST, str(out)) == rows
    with open(out / "measured" / (spec.name + ".json")) as f:
        kept = json.load(f)
    assert kept["error"] and kept["epochs"] == {}


def test_the_depth_slope_and_pooled_fraction_of_constructed_blocks():
    blocks = [{"block": f"hidden.{i}", "dim": 10, "fractions": {"degenerate": 0.1 * i, "negative": 0.0},
               "leakage": 0.5} for i in range(4)]
    blocks.append({"block": "output", "dim": 30, "fractions": {"degenerate": 0.0, "negative": 0.0}, "leakage": None})
    row = per_layer.summarize(blocks, depth=4)
    assert row["per_layer/degenerate/slope"] == pytest.approx(0.1)          # layers 2..4: 0.1, 0.2, 0.3
    assert row["per_layer/degenerate/mean"] == pytest.approx(0.2)
    assert row["per_layer/leakage/mean"] == pytest.approx(0.5)
    assert row["per_layer/degenerate/pooled"] == pytest.approx(numpy.dot([10] * 4, [0, .1, .2, .3]) / 70)
    assert row["per_layer/leakage/output"] is None
