"""The training loop: reproducible, resumable to the same result, divergence kept safe, clear CLI errors."""
import json
import os

import numpy
import pytest

from models.training import Diverged, Measurement, Progress, RunError, TrainConfig, train
from models.files import read_jsonl
from models.training.checkpoint import load_checkpoint

SMALL_DATA = {"name": "synthetic", "synthetic_size": [300, 100], "synthetic_classes": 5, "mirror": True}


def config(**overrides):
    base = dict(model={"arch": "mlp", "skip": "residual", "depth": 4, "width": 16}, data=dict(SMALL_DATA),
                epochs=4, batch_size=64, lr=1e-3, seed=3)
    base.update(overrides)
    return TrainConfig(**base)


def metrics(run_dir):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))]


def final_weights(run_dir):
    return load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))[0]


class StopAt(Progress):
    """Interrupts a run in the middle of an epoch, like Ctrl-C or a killed job."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def step(self, epoch, step, loss):
        if (epoch, step) == self.at:
            raise KeyboardInterrupt


def test_run_folder_contents_and_learning(tmp_path):
    summary = train(config(epochs=6), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "config.json", "metrics.jsonl", "summary.json"]
    rows = metrics(tmp_path)
    assert [r["epoch"] for r in rows] == list(range(7))
    assert rows[-1]["train_acc"] > 0.5 > rows[0]["train_acc"]      # 5 learnable classes: it learns
    saved = json.load(open(tmp_path / "config.json"))
    assert TrainConfig.from_dict({k: v for k, v in saved.items() if k != "data_info"}) == config(epochs=6)
    assert saved["data_info"]["sizes"]["train"] == 600                 # mirrors added
    assert summary["status"] == "finished" and summary["train_acc"] == rows[-1]["train_acc"]


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path):
    train(config(), str(tmp_path / "a"))
    train(config(), str(tmp_path / "b"))
    train(config(seed=4), str(tmp_path / "c"))
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert metrics(tmp_path / "a") != metrics(tmp_path / "c")


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    train(config(), str(tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        train(config(), str(tmp_path / "cut"), progress=StopAt(epoch=3, step=2))
    assert [r["epoch"] for r in read_jsonl(tmp_path / "cut" / "metrics.jsonl")] == [0, 1, 2]
    train(config(), str(tmp_path / "cut"), resume=True)
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "whole")
    a, b = final_weights(tmp_path / "whole"), final_weights(tmp_path / "cut")
    assert all(numpy.array_equal(a[k], b[k]) for k in a)


def test_a_finished_run_can_be_extended(tmp_path):
    train(config(epochs=4), str(tmp_path / "long"))
    train(config(epochs=2), str(tmp_path / "short"))
    train(config(epochs=4), str(tmp_path / "short"), resume=True)
    assert metrics(tmp_path / "short") == metrics(tmp_path / "long")


def test_run_folder_misuse_is_refused(tmp_path):
    with pytest.raises(RunError, match="nothing to resume"):
        train(config(), str(tmp_path / "empty"), resume=True)
    train(config(epochs=1), str(tmp_path / "done"))
    with pytest.raises(RunError, match="already holds a run"):
        train(config(epochs=1), str(tmp_path / "done"))


class PoisonAfter(Progress):
    """Sets a weight to NaN after an epoch's checkpoint is written, so the next epoch diverges."""

    def __init__(self, model_holder, epoch):
        self.holder, self.at = model_holder, epoch

    def epoch(self, row):
        if row["epoch"] == self.at:
            self.holder["poison"]()


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import models
    built = {}
    original = models.build

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built["poison"] = lambda: model.hidden[1].weight.data.__setitem__((0, 0), numpy.nan)
        return model
    monkeypatch.setattr(models, "build", spy)
    with pytest.raises(Diverged, match=r"diverged at epoch 2, step 0 .*checkpoint of epoch 1 is kept"):
        train(config(), str(tmp_path), progress=PoisonAfter(built, 1))
    weights, _, meta = load_checkpoint(os.path.join(tmp_path, "checkpoint.npz"))
    assert [r["epoch"] for r in meta["history"]] == [0, 1]
    assert all(numpy.isfinite(w).all() for w in weights.values())
    assert json.load(open(tmp_path / "summary.json"))["status"] == "diverged"


def test_measurements_run_at_chosen_epochs(tmp_path):
    seen = []

    def norm(model, data, epoch):
        seen.append(epoch)
        return {"w0": float(numpy.linalg.norm(model.hidden[0].weight.numpy()))}
    train(config(epochs=3), str(tmp_path), measurements=[Measurement("norm", norm, epochs={0, 2})])
    rows = metrics(tmp_path)
    assert seen == [0, 2]
    assert "norm/w0" in rows[0] and "norm/w0" not in rows[1] and "norm/w0" in rows[2]


def test_penalty_is_part_of_the_training_loss(tmp_path):
    plain = config(model={"arch": "mlp", "skip": "plain", "depth": 3, "width": 8}, epochs=1)
    reg = config(model={"arch": "mlp", "skip": "plain", "depth": 3, "width": 8, "bias_reg": [2.0, 0.0],
                        "bias_lambda": 0.5}, epochs=1)
    train(plain, str(tmp_path / "plain"))
    train(reg, str(tmp_path / "reg"))
    # same initial weights; the regularized run's epoch-1 loss carries the penalty 0.5·Σ(b - 2)² > 0
    assert metrics(tmp_path / "reg")[1]["train_loss"] > metrics(tmp_path / "plain")[1]["train_loss"] + 1.0


def test_conv_net_trains_on_images(tmp_path):
    conv = config(model={"arch": "conv", "skip": "residual", "blocks": 1, "widths": [4, 8, 8]},
                  data=dict(SMALL_DATA, flatten=False), epochs=1)
    train(conv, str(tmp_path))
    assert len(metrics(tmp_path)) == 2


# --- the command line -------------------------------------------------------------------
