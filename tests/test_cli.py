"""The command line end to end: shared options, train, spectrum (three methods), singularities, user mistakes."""
import io
import json
import pathlib
import re
import tarfile

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
    (["spectrum", *TINY_NET, "--window", "-1"], "must be a positive finite number"),
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


def test_train_members_is_their_single_runs_and_resumes(tmp_path):
    net = ["--arch", "residual", "--depth", "3", "--width", "8", "--dataset", "synthetic", "--batch-size", "200",
           "--dtype", "float64", "--seed", "4"]
    result = train_cli(*net, "--members", "3", "--epochs", "1", "--out", tmp_path / "ens")
    assert result.exit_code == 0, result.output
    assert "3 seeds trained as one ensemble" in result.output
    folders = sorted((tmp_path / "ens").iterdir())
    assert [f.name[-2:] for f in folders] == ["s4", "s5", "s6"]
    result = train_cli(*net, "--members", "3", "--epochs", "2", "--resume", "--out", tmp_path / "ens")
    assert result.exit_code == 0, result.output
    for folder in folders:
        seed = folder.name.rsplit("-s", 1)[1]
        alone = tmp_path / f"alone{seed}"
        assert train_cli(*net[:-1], seed, "--epochs", "2", "--out", alone).exit_code == 0
        strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]   # noqa: E731
        assert strip(read_jsonl(folder / "metrics.jsonl")) == strip(read_jsonl(alone / "metrics.jsonl"))
    result = train_cli(*net, "--members", "3", "--epochs", "3", "--lr", "0.01", "--resume", "--out", tmp_path / "ens")
    assert result.exit_code != 0 and "was trained with other settings" in result.output
    assert "Traceback" not in result.output


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
    (["--resume"], "is not a run folder: it has no config.json"),
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


# ----------------------------------------------------------------------------- faults and bad input

@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "must be a positive finite number"),
    (["--lr", "0"], "must be a positive finite number"),
    (["--lr", "nan"], "must be a positive finite number"),
    (["--seed", "-1"], "-1 is not in the range x>=0"),
    (["--reg", "biasreg", "--reg-lambda", "-0.1"], "must be a positive finite number"),
    (["--reg", "biasreg", "--reg-mu", "inf", "--reg-sigma", "1"], "must be a finite number"),
    (["--bn-layer", "0"], "0 is not in the range x>=1"),
])
def test_numeric_options_are_checked(tmp_path, args, message):
    result = train_cli("--dataset", "synthetic", "--depth", "2", "--width", "8", "--epochs", "1", *args,
                       "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train --dataset synthetic --depth 2 --width 8 --epochs 1",
                                     "spectrum --dataset synthetic --depth 2 --width 8 --method exact",
                                     "singularities --dataset synthetic --depth 2 --width 8",
                                     "reproduce fig6 --preset test", "toy linear --quick", "bench --repeats 1"])
def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "out" / ("engine.json" if command.startswith("bench") else "")
    result = invoke(*command.split(), "--out", out)
    assert result.exit_code == 1 and "cannot write to" in result.output and "choose another --out" in result.output
    assert "Traceback" not in result.output and "timing" not in result.output and "epoch" not in result.output


def test_reproduce_says_what_failed_and_exits_non_zero(tmp_path):
    result = invoke("reproduce", "fig6,figS7-svhn", "--preset", "test", "--out", tmp_path)
    assert result.exit_code == 1, result.output
    error = next(line for line in result.output.splitlines() if line.startswith("Error:"))
    assert error.startswith("Error: 1 of 2 figures are incomplete (figS7-svhn: ") and "report.md" in error
    assert (tmp_path / "fig6" / "report.md").exists() and (tmp_path / "figS7-svhn" / "report.md").exists()
    assert re.search(r"^  run 1/\d+: \S+ finished \(\d+ s\)$", result.output, re.M)   # plain lines off a terminal


def test_spectrum_tells_its_cost_and_flags_rough_settings(tmp_path):
    result = invoke("spectrum", *TINY_NET, "--method", "slq", "--probes", "2", "--steps", "20", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert re.search(r"40 Hessian-vector products on 460 parameters, \S+ s each: about \d+ s", result.output)
    assert "fewer probes or steps than the defaults" in result.output
    assert "Lanczos steps: 40/40" in result.output          # plain progress lines off a terminal
    quiet = invoke("spectrum", *TINY_NET, "--method", "exact", "--out", tmp_path)
    assert quiet.exit_code == 0 and "fewer probes" not in quiet.output


def test_training_prints_plain_lines_when_not_on_a_terminal(tmp_path):
    result = train_cli("--dataset", "synthetic", "--depth", "2", "--width", "8", "--epochs", "2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert re.search(r"^epoch 1: train \d+\.\d% +test \d+\.\d% \(\d+\.\d s\)$", result.output, re.M)


def test_the_readme_training_example_learns(tmp_path):
    """The first training example of the README, run as written: clearly above chance (5%) on held-out data."""
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = next(line for line in readme.splitlines() if line.startswith("python cli.py train")
                   and "synthetic" in line)
    args = example.split("#")[0].split()[2:]
    result = invoke(*args, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    last = read_jsonl(tmp_path / "metrics.jsonl")[-1]
    assert last["test_acc"] > 0.25 and last["epoch"] == 20
    assert "test accuracy about" in example      # the README says what to expect


def test_a_damaged_run_folder_is_one_sentence_naming_the_file(tmp_path):
    run = tmp_path / "run"
    assert train_cli("--dataset", "synthetic", "--depth", "2", "--width", "8", "--epochs", "1", "--out", run).exit_code == 0
    checkpoint = run / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    for result in (train_cli("--out", run, "--resume", "--epochs", "2"), invoke("spectrum", "--run", run)):
        assert result.exit_code == 1 and "checkpoint.npz in" in result.output and "Traceback" not in result.output
    (run / "config.json").write_text('{"model": {"arch": "mlp"')
    result = train_cli("--out", run, "--resume", "--epochs", "2")
    assert result.exit_code == 1 and "config.json in" in result.output and "is damaged" in result.output


def test_a_second_writer_is_refused_with_the_owners_name(tmp_path):
    import socket
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"host": "another-host", "pid": 1, "started": "2026-01-01T00:00:00"}))
    result = train_cli("--dataset", "synthetic", "--depth", "2", "--width", "8", "--epochs", "1", "--out", run)
    assert result.exit_code == 1 and "is being written by pid 1 on another-host" in result.output
    assert socket.gethostname() != "another-host" and sorted(p.name for p in run.iterdir()) == [".lock"]


# ----------------------------------------------------------------------------- runs pack / unpack

def _sweep(root):
    """A reproduction folder with one finished run (and its checkpoint) and one partial run."""
    done, partial = root / "runs" / "done-1", root / "runs" / "partial-2"
    done.mkdir(parents=True)
    partial.mkdir()
    (done / "config.json").write_text("{}")
    (done / "metrics.jsonl").write_text('{"epoch": 0}\n')
    (done / "summary.json").write_text('{"status": "finished"}')
    for run in (done, partial):
        (run / "checkpoint.npz").write_bytes(b"weights")
    return root


def test_runs_pack_and_unpack_carry_finished_runs_without_checkpoints(tmp_path):
    archive = tmp_path / "carry" / "runs.tar.gz"
    packed = invoke("runs", "pack", _sweep(tmp_path / "here"), archive)
    assert packed.exit_code == 0, packed.output
    assert packed.output == f"packed 1 finished runs (1 not done, left out) into {archive}\n"
    unpacked = invoke("runs", "unpack", archive, tmp_path / "there")
    assert unpacked.exit_code == 0, unpacked.output
    assert unpacked.output == (f"unpacked into {tmp_path / 'there'}: added 1, kept 0 (finished here already), "
                               "replaced 0 (not finished here), skipped 0 (locked by a trainer)\n")
    assert sorted(p.name for p in (tmp_path / "there" / "runs").iterdir()) == ["done-1"]
    assert sorted(p.name for p in (tmp_path / "there" / "runs" / "done-1").iterdir()) == [
        "config.json", "metrics.jsonl", "summary.json"]
    locked = tmp_path / "busy" / "runs" / "done-1"          # not finished here, and its trainer is alive elsewhere
    locked.mkdir(parents=True)
    (locked / ".lock").write_text(json.dumps({"host": "another-host", "pid": 1, "started": "2026-01-01T00:00:00"}))
    skipped = invoke("runs", "unpack", archive, tmp_path / "busy")
    assert skipped.exit_code == 0 and "skipped 1 (locked by a trainer)" in skipped.output, skipped.output
    assert "  skipped: " in skipped.output and "being written by pid 1 on another-host" in skipped.output
    assert sorted(p.name for p in locked.iterdir()) == [".lock"]


def test_runs_bad_input_is_one_sentence(tmp_path):
    (tmp_path / "notes.txt").write_text("not an archive")
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("../evil")
        tar.addfile(member, io.BytesIO())
    cases = [
        (("pack", tmp_path / "nowhere", tmp_path / "a.tar.gz"), "holds no runs/ folder"),
        (("pack", _sweep(tmp_path / "root"), tmp_path / "notes.txt" / "a.tar.gz"), "cannot write to"),
        (("unpack", tmp_path / "notes.txt", tmp_path / "out"), "is not a .tar.gz archive"),
        (("unpack", tmp_path / "missing.tar.gz", tmp_path / "out"), "does not exist"),
        (("unpack", tmp_path / "evil.tar.gz", tmp_path / "out"), "'../evil' is a path leaving runs/"),
        (("unpack", tmp_path / "evil.tar.gz", tmp_path / "notes.txt" / "out"), "cannot write to"),
    ]
    for args, message in cases:
        result = invoke("runs", *args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert message in " ".join(result.output.split()) and result.output.startswith("Error: "), result.output
    assert not (tmp_path / "out" / "runs").exists()
