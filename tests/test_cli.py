"""The command line end to end: shared options, train, spectrum (three methods), singularities, user mistakes."""
import json

import numpy
import pytest
import click
from click.testing import CliRunner

import cli
from cli import main
from models.files import read_jsonl

TINY_NET = ["--arch", "residual", "--depth", "3", "--width", "8", "--dataset", "synthetic", "--pca", "16",
            "--samples", "200"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def exact_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("exact")
    result = invoke("spectrum", *TINY_NET, "--method", "exact", "--out", out)
    assert result.exit_code == 0, result.output
    return json.load(open(out / "result.json"))


@pytest.mark.parametrize("method", ["moments", "slq"])
def test_spectrum_methods_agree_with_the_exact_spectrum(tmp_path, method, exact_result):
    probes = 4
    result = invoke("spectrum", *TINY_NET, "--method", method, "--probes", probes, "--steps", "40", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "density.png").stat().st_size > 10_000
    saved = json.load(open(tmp_path / "result.json"))
    assert saved["method"] == method and saved["operator"]["n_samples"] == 200
    assert "degenerate fraction" in result.output
    eigenvalues = numpy.array(exact_result["eigenvalues"])
    n = len(eigenvalues)
    if method == "moments":   # Skilling's m_k = mean of v'H^k v / n over Gaussian probes: unbiased, variance known
        for k, estimate in enumerate(saved["moments"], 1):
            sd = numpy.sqrt(2 * numpy.sum(eigenvalues ** (2 * k)) / probes) / n
            assert abs(estimate - numpy.mean(eigenvalues ** k)) < 5 * sd, k
    else:                     # 40 steps on a 460-dim operator: the extreme Ritz values are the exact extremes
        assert numpy.isclose(saved["top"][0], exact_result["top"][0], rtol=1e-6)
        assert numpy.isclose(saved["bottom"][0], exact_result["bottom"][0], rtol=1e-6)


def test_exact_spectrum_is_complete(exact_result):
    assert len(exact_result["eigenvalues"]) == exact_result["operator"]["dim"] == 460
    assert exact_result["bottom"][0] < 0 < exact_result["top"][0]


def test_spectrum_and_meters_of_a_run_folder(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--arch", "plain", "--depth", "3", "--width", "8", "--dataset", "synthetic",
                  "--epochs", "1", "--out", run).exit_code == 0
    result = invoke("spectrum", "--run", run, "--method", "slq", "--probes", "2", "--steps", "20",
                    "--samples", "100", "--out", tmp_path / "spec")
    assert result.exit_code == 0, result.output
    assert "(epoch 1)" in json.load(open(tmp_path / "spec" / "result.json"))["source"]
    result = invoke("singularities", "--run", run, "--samples", "100", "--out", tmp_path / "meters")
    assert result.exit_code == 0, result.output
    meters = json.load(open(tmp_path / "meters" / "meters.json"))
    assert len(meters["elimination"]["layers"]) == 3 and meters["n_samples"] == 100
    assert (tmp_path / "meters" / "meters.png").exists()


@pytest.mark.parametrize("args, message", [
    (["spectrum", "--run", "no-such-run"], "is not a run folder"),
    (["spectrum", *TINY_NET, "--window", "-1"], "must be positive"),
    (["spectrum", "--arch", "plain", "--depth", "3", "--width", "128", "--dataset", "synthetic", "--method", "exact"],
     "use --method slq or moments"),
    (["singularities", "--device", "tpu"], "Unknown device"),
])
def test_user_mistakes_are_one_sentence(tmp_path, args, message):
    result = invoke(*args, "--out", tmp_path)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------- train

def train_cli(*args):
    return CliRunner().invoke(main, ["train", *map(str, args)])


def test_train_and_resume(tmp_path):
    out = tmp_path / "run"
    args = ["--arch", "hyperres", "--depth", "4", "--width", "16", "--dataset", "synthetic", "--batch-size", "100",
            "--out", out]
    result = train_cli(*args, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "epoch" in result.output and "train acc" in result.output
    result = train_cli("--out", out, "--resume", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in read_jsonl(out / "metrics.jsonl")] == [0, 1, 2]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar10", "--no-download"], "--no-download"),
    (["--arch", "residual", "--skip-matrix", "k3", "--width", "16"], "k3"),
    (["--arch", "plain", "--bn-layer", "40", "--depth", "4"], "bn_layer"),
    (["--resume"], "nothing to resume"),
    (["--device", "tpu"], "Unknown device 'tpu'"),
    (["--arch", "conv-plain", "--pca", "8"], "--pca gives vectors"),
    (["--dataset", "synthetic", "--reg", "biasreg"], "needs --reg-mu and --reg-sigma"),
])
def test_train_mistakes_are_one_clear_sentence(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path / "no-data-here"))
    result = train_cli(*args, "--out", tmp_path / "run")
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_train_resume_refuses_changed_settings(tmp_path):
    out = tmp_path / "run"
    assert train_cli("--dataset", "synthetic", "--depth", "2", "--width", "8", "--epochs", "1", "--out", out).exit_code == 0
    result = train_cli("--out", out, "--resume", "--lr", "0.1")
    assert result.exit_code != 0 and "drop --lr" in result.output
    result = train_cli("--resume")
    assert result.exit_code != 0 and "--resume needs --out" in result.output


# ----------------------------------------------------------------------------- shared options

@click.command()
@cli.model_options
@cli.data_options
def _cli(**params):
    model, _ = cli.configs(params)
    click.echo(json.dumps(model))
    click.echo(cli.run_name(params["arch"], params["depth"], params["dataset"], 0, model))


def test_command_line_options():
    base = ["--depth", "4", "--width", "8", "--dataset", "synthetic"]
    result = CliRunner().invoke(_cli, ["--arch", "residual", *base])
    model = json.loads(result.output.splitlines()[0])
    assert "skip_scale" not in model and "branch_init" not in model
    assert result.output.splitlines()[1] == "residual-d4-synthetic-s0"
    result = CliRunner().invoke(_cli, ["--arch", "hyperres", *base, "--skip-scale", "average", "--branch-init", "skipinit"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert json.loads(lines[0])["skip_scale"] == "average" and json.loads(lines[0])["branch_init"] == "skipinit"
    assert lines[1] == "hyperres-d4-scale-average-init-skipinit-synthetic-s0"
    result = CliRunner().invoke(_cli, ["--arch", "conv-residual", *base, "--init", "malicious", "--reg", "biasl2"])
    assert result.exit_code == 0, result.output            # Fig 5's variants on the conv nets
    conv = json.loads(result.output.splitlines()[0])
    assert conv["init"] == "malicious" and conv["bias_reg"] == "l2" and conv["arch"] == "conv"
    for args, message in ((["--arch", "plain", "--skip-scale", "branch"], "skip_scale must be 'none'"),
                          (["--arch", "residual", "--skip-scale", "half"], "'half' is not one of"),
                          (["--arch", "conv-residual", "--branch-init", "small"], "apply only to the fully connected"),
                          (["--arch", "conv-plain", "--init", "malicious"], "needs skip='residual'"),
                          (["--arch", "conv-plain", "--skip-matrix", "ortho"], "unknown config keys ['skip_matrix']")):
        result = CliRunner().invoke(_cli, [*args, *base])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("command", ["train", "spectrum", "singularities", "reproduce fig3", "bench"])
def test_device_is_one_option_with_one_message(command):
    result = invoke(*command.split(), "--device", "tpu")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--device': Unknown device 'tpu'" in result.output and "Traceback" not in result.output
