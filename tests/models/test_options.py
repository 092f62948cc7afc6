"""The command line's nets without click: configs and run names of parsed options, and what resuming compares."""
import dataclasses
import json

import pytest

from models.options import OptionError, configs, model_config, run_name
from models.training import RunError
from models.training.resume import (SettingsDiffer, disagreeing, fixed, member_runs, options_of, resumed_config,
                                    train_config)

# The values click gives the model and data options when none is given (cli.py; tests/test_cli.py checks they agree).
DEFAULTS = {"arch": "plain", "depth": 30, "width": 128, "skip_matrix": None, "hyper_matrix": None,
            "init": "glorot_normal", "reg": "none", "reg_mu": None, "reg_sigma": None, "reg_lambda": None,
            "bn_layer": None, "skip_scale": "none", "branch_init": "glorot", "blocks": 3, "widths": (16, 32, 64),
            "dataset": "cifar100", "labels": "coarse", "data_dir": None, "download": True, "mirror": None,
            "preprocess": "standardize", "pca": None}
TRAIN = dict(DEFAULTS, epochs=100, batch_size=500, lr=5e-4, seed=0, device="cpu", dtype="float32", out=None,
             resume=False, members=1)

# Run folder names `train` gives today (seed 3): they name every run folder made by default and must never change.
NAMES = [
    ({"arch": "residual", "depth": 20}, "residual-d20-cifar100-s3"),
    ({}, "plain-d30-cifar100-s3"),
    ({"arch": "hyperres", "depth": 4, "skip_scale": "average", "branch_init": "skipinit"},
     "hyperres-d4-scale-average-init-skipinit-cifar100-s3"),
    ({"arch": "conv-residual", "blocks": 2, "widths": (8, 16), "init": "malicious", "reg": "biasl2"},
     "conv-residual-b2-malinit-biasl2-cifar100-s3"),
    ({"arch": "residual", "skip_matrix": "k32", "reg": "biasreg", "dataset": "cifar10"},
     "residual-d30-k32-biasreg-cifar10-s3"),
    ({"bn_layer": 15, "reg": "biasreg", "reg_lambda": 0.01}, "plain-d30-biasreg-bn15-cifar100-s3"),
    ({"arch": "residual", "init": "malicious", "dataset": "synthetic", "reg": "biasreg", "reg_mu": 0.5,
      "reg_sigma": 2.0}, "residual-d30-malinit-biasreg-synthetic-s3"),
    ({"arch": "hyperres", "hyper_matrix": "k16", "width": 64, "dataset": "svhn", "pca": 128},
     "hyperres-d30-k16-svhn-s3"),
    ({"arch": "conv-plain", "dataset": "stl10"}, "conv-plain-b3-stl10-s3"),
    ({"arch": "residual", "skip_matrix": "beta0.01", "skip_scale": "branch", "branch_init": "small", "depth": 10},
     "residual-d10-beta0.01-scale-branch-init-small-cifar100-s3"),
]


@pytest.mark.parametrize("options, name", NAMES)
def test_run_names_are_pinned(options, name):
    p = dict(DEFAULTS, **options)
    model, data = configs(p)
    assert run_name(p["arch"], p["depth"], p["dataset"], 3, model) == name
    assert data["flatten"] == (not p["arch"].startswith("conv")) and data["name"] == p["dataset"]


def test_model_configs_carry_only_the_variants_asked():
    assert model_config(dict(DEFAULTS, arch="residual", depth=20)) == {
        "arch": "mlp", "skip": "residual", "depth": 20, "width": 128, "init": "glorot_normal"}
    assert model_config(dict(DEFAULTS, arch="conv-residual", init="malicious", reg="biasl2")) == {
        "arch": "conv", "skip": "residual", "blocks": 3, "widths": [16, 32, 64], "init": "malicious", "bias_reg": "l2"}
    assert model_config(dict(DEFAULTS, reg="biasreg", reg_lambda=0.01))["bias_reg"] == "cifar100"


@pytest.mark.parametrize("options, error, message", [
    ({"arch": "conv-plain", "pca": 8}, OptionError, "--pca gives vectors"),
    ({"dataset": "synthetic", "reg": "biasreg"}, OptionError, "needs --reg-mu and --reg-sigma"),
    ({"reg": "biasreg", "reg_mu": 0.5}, OptionError, "give both --reg-mu and --reg-sigma"),
    ({"arch": "conv-residual", "branch_init": "small"}, OptionError, "apply only to the fully connected"),
    ({"arch": "residual", "skip_matrix": "k3", "width": 2}, ValueError, "k3"),
    ({"bn_layer": 40, "depth": 4}, ValueError, "bn_layer"),
])
def test_options_that_name_no_net_are_one_sentence(options, error, message):
    with pytest.raises(error, match=message):
        configs(dict(DEFAULTS, **options))


def _saved(tmp_path, **options):
    """A run folder holding only the config.json train would write for these options."""
    config = train_config(dict(TRAIN, dataset="synthetic", depth=2, width=8, **options))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    return config, str(folder)


def test_options_of_a_saved_run_give_it_back():
    for options, _ in NAMES:
        p = dict(TRAIN, **options)
        config = train_config(p)
        assert fixed(train_config(dict(TRAIN, **options_of(config)))) == fixed(config)


def test_resuming_names_only_the_options_that_disagree(tmp_path):
    saved, folder = _saved(tmp_path)
    given = dict(TRAIN, depth=2, lr=0.1, dataset="synthetic", epochs=5)
    assert disagreeing(saved, given, {"depth", "lr", "dataset", "epochs"}) == ["lr"]
    assert disagreeing(saved, dict(TRAIN, depth=2, width=8, dataset="synthetic"), {"depth", "width"}) == []
    with pytest.raises(SettingsDiffer, match="drop --lr to continue it"):
        resumed_config(folder, given, {"depth", "lr", "dataset"})
    config = resumed_config(folder, dict(TRAIN, epochs=5, data_dir="elsewhere", device="cpu"), {"epochs", "data_dir"})
    assert config.epochs == 5 and config.data["root"] == "elsewhere" and fixed(config) == fixed(saved)
    with pytest.raises(RunError, match="is not a run folder"):
        resumed_config(str(tmp_path / "nothing"), TRAIN, set())


def test_members_resume_together_or_say_why_not(tmp_path):
    base = train_config(dict(TRAIN, dataset="synthetic", depth=2, width=8))
    name = lambda seed: f"net-s{seed}"  # noqa: E731
    runs, folders, resumes = member_runs(base, 3, str(tmp_path), name, False, TRAIN, set())
    assert [c.seed for c in runs] == [0, 1, 2] and resumes == [False] * 3
    assert folders == [str(tmp_path / f"net-s{seed}") for seed in range(3)]
    with pytest.raises(RunError, match="nothing to resume: there is no checkpoint.npz in"):
        member_runs(base, 3, str(tmp_path), name, True, TRAIN, set())
