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


def _measure(command, *args):
    extra = ["--method", "slq", "--probes", "2", "--steps", "10"] if command == "spectrum" else []
    result = invoke(command, *args, *extra, "--samples", "50")
    assert result.exit_code == 0, result.output
    return result.output


def test_measurements_of_a_run_land_in_its_folder_and_say_what_they_replace(tmp_path, monkeypatch):
    """spectrum/singularities --run RUN write RUN/spectrum/<method>/ and RUN/singularities/; the run stays a run."""
    from analysis.reproduction.sweep import folder_state
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    runs = [root / "runs" / f"net-s{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        assert train_cli("--arch", "plain", "--depth", "2", "--width", "8", "--dataset", "synthetic", "--epochs", "1",
                         "--seed", seed, "--out", run).exit_code == 0
    for command, folder, files in (("spectrum", ("spectrum", "slq"), ("result.json", "density.png")),
                                   ("singularities", ("singularities",), ("meters.json", "meters.png"))):
        name = "spectrum" if command == "spectrum" else "singularity meters"
        first = _measure(command, "--run", runs[0])
        out = runs[0].joinpath(*folder)
        assert all((out / file).exists() for file in files) and "replaced" not in first
        assert f"written to {out}" in first
        again = _measure(command, "--run", runs[0])
        assert f"replaced the earlier {name} in {out}" in again
        other = _measure(command, "--run", runs[1])                       # another run: its own folder
        assert "replaced" not in other and all(runs[1].joinpath(*folder, file).exists() for file in files)
        sources = [json.load(open(run.joinpath(*folder, files[0])))["source"] for run in runs]
        assert [str(run) in source for run, source in zip(runs, sources)] == [True, True]
    assert not (tmp_path / "results").exists()                              # nothing in the shared folder
    assert all(folder_state(run) == "finished" for run in runs)             # the measurements leave the run done
    archive = tmp_path / "runs.tar.gz"
    result = invoke("runs", "pack", root, archive)
    assert result.exit_code == 0 and "packed 2 finished runs" in result.output, result.output
    with tarfile.open(archive) as tar:                                      # measurements stay behind
        assert sorted(tar.getnames()) == sorted(f"runs/{run.name}/{file}" for run in runs
                                                for file in ("config.json", "metrics.jsonl", "summary.json"))
    result = invoke("runs", "unpack", archive, tmp_path / "elsewhere")
    assert result.exit_code == 0 and "added 2" in result.output, result.output


def test_a_fresh_net_is_measured_into_a_folder_named_by_the_net(tmp_path, monkeypatch):
    """Without --run or --out: results/<measurement>/<run name>-<hash of the net>/, one per net, never shared."""
    monkeypatch.chdir(tmp_path)
    net = ["--arch", "plain", "--depth", "2", "--dataset", "synthetic"]     # no --pca: its fit is most of the time
    for command, files in (("spectrum", ("slq", "result.json")), ("singularities", ("meters.json",))):
        outputs = [_measure(command, *net, "--width", width) for width in (8, 8, 6)]
        folders = sorted((tmp_path / "results" / command).iterdir())
        assert len(folders) == 2 and all(f.name.startswith("plain-d2-synthetic-s0-") for f in folders)
        assert all(f.joinpath(*files).exists() for f in folders)
        assert ["replaced the earlier" in output for output in outputs] == [False, True, False]


def test_the_measurement_folder_is_named_without_the_cli(tmp_path):
    from analysis.outputs import output_folder, replacing
    from models.training import RunError
    run = tmp_path / "run"
    with pytest.raises(RunError, match="is not a run folder: it has no config.json"):
        output_folder("spectrum", run_dir=str(run), method="slq")
    assert not run.exists()                                                 # nothing made in a folder that is no run
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(RunError, match="it has no checkpoint.npz"):   # a run that never saved weights: left as it is
        output_folder("singularities", run_dir=str(run))
    (run / "checkpoint.npz").write_bytes(b"")
    assert output_folder("spectrum", run_dir=str(run), method="exact") == str(run / "spectrum" / "exact")
    assert output_folder("singularities", run_dir=str(run)) == str(run / "singularities")
    one, same, other = (output_folder("spectrum", net=("plain-d2-synthetic-s0", {"model": {"width": w}}),
                                      method="slq", root="R") for w in (8, 8, 6))
    assert one == same != other and one.startswith(str(pathlib.Path("R", "spectrum", "plain-d2-synthetic-s0-")))
    assert replacing(str(run), "singularities") is None
    (run / "singularities").mkdir()
    (run / "singularities" / "meters.json").write_text("{}")
    assert replacing(str(run / "singularities"), "singularities") == (
        f"replaced the earlier singularity meters in {run / 'singularities'}")


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
    result = train_cli("--out", out, "--resume", "--lr", "0.1", "--depth", "2", "--dataset", "synthetic")
    assert result.exit_code == 1 and "drop --lr to continue it" in result.output      # only the one that disagrees
    result = train_cli("--out", out, "--resume", "--epochs", "2", "--depth", "2", "--width", "8", "--lr", "5e-4")
    assert result.exit_code == 0, result.output                                        # options that agree: fine
    assert [r["epoch"] for r in read_jsonl(out / "metrics.jsonl")] == [0, 1, 2]


@pytest.mark.parametrize("members", [1, 2])
def test_an_interrupted_train_says_how_to_continue_and_that_command_does(tmp_path, monkeypatch, members):
    """Ctrl-C prints the same command with --resume, which continues the default folder it names."""
    from models.training import Progress

    class CtrlC(Progress):
        """A training display interrupted, as by Ctrl-C, in the middle of epoch 2."""

        def step(self, epoch, step, loss):
            if epoch == 2:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.chdir(tmp_path)
    net = ["--arch", "residual", "--depth", "3", "--width", "8", "--dataset", "synthetic", "--epochs", "3",
           "--batch-size", "200", "--lr", "0.002", "--dtype", "float64"] + (["--members", "2"] if members > 1 else [])
    display = cli.training_display
    monkeypatch.setattr(cli, "training_display", CtrlC)
    result = train_cli(*net)
    assert result.exit_code == 1 and "Aborted!" in result.output and "Traceback" not in result.output
    continuing = re.search(r"^Interrupted; continue the runs? with: (.*)$", result.output, re.M).group(1)
    assert continuing == "python cli.py train " + " ".join(net) + " --resume"
    monkeypatch.setattr(cli, "training_display", display)
    result = invoke(*continuing.split()[2:])
    assert result.exit_code == 0, result.output
    folders = sorted((tmp_path / "runs").iterdir())
    assert [f.name for f in folders] == [f"residual-d3-synthetic-s{s}" for s in range(members)]
    alone = tmp_path / "alone"
    assert train_cli(*(net[:-2] if members > 1 else net), "--out", alone).exit_code == 0
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]   # noqa: E731
    assert strip(read_jsonl(folders[0] / "metrics.jsonl")) == strip(read_jsonl(alone / "metrics.jsonl"))
    result = train_cli(*net, "--resume", "--lr", "0.1")
    assert result.exit_code == 1 and "drop --lr to continue it" in result.output


def test_a_refused_or_failed_start_leaves_no_empty_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = ["--arch", "residual", "--depth", "2", "--width", "8", "--dataset", "synthetic", "--epochs", "1"]
    assert train_cli(*net, "--out", "ens/residual-d2-synthetic-s0").exit_code == 0
    result = train_cli(*net, "--members", "3", "--out", "ens")                     # seed 0 is there already
    assert result.exit_code == 1 and "ens/residual-d2-synthetic-s0 already holds a run" in result.output
    assert [p.name for p in (tmp_path / "ens").iterdir()] == ["residual-d2-synthetic-s0"]
    for members in ("1", "2"):                                                      # no CIFAR-10 here
        result = train_cli("--dataset", "cifar10", "--no-download", "--depth", "2", "--members", members)
        assert result.exit_code == 1 and "--no-download" in result.output and "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["ens"]


def test_resume_without_a_run_to_continue_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = train_cli("--dataset", "synthetic", "--depth", "2", "--resume")
    assert result.exit_code == 1 and "runs/plain-d2-synthetic-s0 is not a run folder" in result.output
    result = train_cli("--dataset", "synthetic", "--depth", "2", "--members", "3", "--resume")
    assert result.exit_code == 1 and "nothing to resume: there is no checkpoint.npz in runs/plain-d2-synthetic-s0 " \
                                     "or the other 2 run folders these options name" in result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


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


def test_train_names_its_runs_as_pinned(tmp_path, monkeypatch):
    """train's defaults are those the pinned names of tests/models/test_options.py assume, and the folder train
    names for each setting (here: the one --resume looks for) is the pinned name."""
    from tests.models.test_options import DEFAULTS, NAMES
    assert {name: cli.train.make_context("train", []).params[name] for name in DEFAULTS} == DEFAULTS
    monkeypatch.chdir(tmp_path)
    for options, name in NAMES:
        args = [word for key, value in options.items() for word in
                (f"--{key.replace('_', '-')}", ",".join(map(str, value)) if isinstance(value, tuple) else value)]
        result = train_cli(*args, "--seed", "3", "--resume")
        assert result.exit_code == 1 and f"runs/{name} is not a run folder" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


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
    result = invoke("reproduce", "fig6,figS7-svhn", "--preset", "test", "--workers", "1", "--out", tmp_path)
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


def test_spectrum_per_layer_of_a_run_is_a_table_a_figure_and_a_cost(tmp_path):
    """--per-layer: per layer the fractions, extreme Ritz values and leakage, in 80 columns; per_layer.png; the cost."""
    run = tmp_path / "run"
    assert invoke("train", "--arch", "residual", "--depth", "3", "--width", "8", "--dataset", "synthetic",
                  "--pca", "16", "--epochs", "1", "--out", run).exit_code == 0
    result = invoke("spectrum", "--run", run, "--per-layer", "--probes", "2", "--steps", "10", "--samples", "100")
    assert result.exit_code == 0, result.output
    out = run / "spectrum" / "slq-per-layer"
    saved = json.load(open(out / "result.json"))
    assert [b["block"] for b in saved["blocks"]] == ["hidden.0", "hidden.1", "hidden.2", "output"]
    assert all(0 < b["leakage"] < 1 and b["max"] >= b["min"] for b in saved["blocks"])
    assert (out / "per_layer.png").stat().st_size > 10_000 and f"written to {out}" in result.output
    lines = [line for line in result.output.splitlines()          # all but the lines naming paths, left unbroken
             if not line.startswith(("written to ", str(run)))]
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for block in saved["blocks"]:    # one row per layer: its name, size, fractions, extremes and leakage
        row = next(line for line in lines if f" {block['block']} " in line and "│" in line)
        assert f"{block['dim']:,}" in row and f"{block['leakage']:.4f}" in row
        assert f"{block['fractions']['degenerate']:.4f}" in row and f"{block['max']:.3g}" in row
    cost = re.search(r"^cost: (\d+) Hessian-vector products in (\d+) passes, \d+\.\d s$", result.output, re.M)
    assert cost and int(cost[1]) == saved["products"] and int(cost[2]) == saved["passes"] < saved["products"]
    assert re.search(r"^\d+ Hessian-vector products on 460 parameters", result.output, re.M)   # announced first


@pytest.mark.parametrize("args, message", [
    (["--per-layer", "--group", "all=hidden,output"], "this net has 1 block (all); they need at least 2"),
    (["--per-layer", "--group", "late=hidden.7"], "the net has no parameter or layer named 'hidden.7'"),
    (["--per-layer", "--group", "late"], "is not NAME=LAYER[,LAYER...]"),
    (["--group", "early=hidden.0"], "--group names a block of the per-layer spectra; add --per-layer"),
])
def test_spectrum_per_layer_mistakes_are_one_sentence(tmp_path, args, message):
    result = invoke("spectrum", *TINY_NET, "--probes", "2", "--steps", "10", *args, "--out", tmp_path)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
    assert message in " ".join(result.output.split()) and "Hessian-vector products" not in result.output


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


# ----------------------------------------------------------------------------- what the commands call, without click

def test_folder_checks_need_no_click(tmp_path):
    """The checks behind every --out: a control character or an unwritable place is one sentence (FolderError)."""
    from models.folders import FolderError, printable, writable
    with pytest.raises(FolderError, match=r"--out 'a\\nb' holds the control character '\\n'; choose another --out"):
        printable("a\nb")
    assert writable(str(tmp_path / "new"), make=False) == str(tmp_path / "new") and not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(FolderError, match="cannot write to .*; choose another ROOT"):
        writable(str(tmp_path / "file" / "below"), "ROOT")


def test_what_the_options_mean_needs_no_click():
    """The parsing behind --widths, --group and FIGURE, and where bench writes: plain functions, ValueErrors."""
    from analysis.bench import workloads
    from analysis.figures import named_stages
    from analysis.spectra.estimate import parse_groups
    from models.options import parse_widths
    assert parse_widths("8,16") == (8, 16)
    with pytest.raises(ValueError, match="give channel widths as integers separated by commas"):
        parse_widths("8,x")
    assert parse_groups(["early=hidden.0, hidden.1", "late=out"]) == {"early": ["hidden.0", "hidden.1"], "late": ["out"]}
    with pytest.raises(ValueError, match="the group 'a' is given twice"):
        parse_groups(["a=x", "a=y"])
    assert [stage.figure for stage in named_stages("fig3,fig5")] == ["fig3", "fig5"]
    with pytest.raises(ValueError, match="unknown figure 'fig99'; choose from: all, plan, "):
        named_stages("fig3,fig99")
    assert workloads("all", "out/w.json") == [("engine", "out/w.json"), ("ensemble", "out/ensemble.json")]
    assert workloads("lanczos") == [("lanczos", "results/bench/lanczos.json")]


def test_what_train_does_needs_no_click():
    """train's runs, the line after a Ctrl-C and its closing table come from models/ and analysis/ as they are."""
    from analysis.readouts import members_readout
    from models.training import Diverged
    from models.training.resume import interrupted, planned_runs
    options = cli.train.make_context("train", ["--dataset", "synthetic", "--depth", "2", "--members", "2"]).params
    plan = planned_runs(options, {"dataset", "depth", "members"})
    assert plan.folders == [f"runs/plain-d2-synthetic-s{seed}" for seed in (0, 1)] and plan.root == "runs"
    assert [c.seed for c in plan.configs] == [0, 1] and plan.resumes == [False, False]
    assert interrupted(plan.folders, "train", [("--depth", 2), ("--no-mirror", None), ("--widths", (8, 16))]) == (
        "Interrupted before the first checkpoint; start the runs again with: "
        "python cli.py train --depth 2 --no-mirror --widths 8,16")
    outcomes = [{"train_acc": 0.5, "test_acc": 0.25}, Diverged("the loss is nan at epoch 1")]
    title, columns, rows, failure = members_readout(plan.configs, outcomes, plan.folders)
    assert title == "2 seeds trained as one ensemble" and rows[0][:4] == (0, "finished", "50.00%", "25.00%")
    assert rows[1][1] == "diverged" and failure == "1 of 2 runs diverged: the loss is nan at epoch 1"
    with pytest.raises(ValueError, match="--pca gives vectors"):
        planned_runs(dict(options, arch="conv-plain", pca=16), set())


def test_ensemble_setting_and_the_blas_threads_of_workers(monkeypatch):
    from analysis.reproduction.runner import ensemble_setting
    from analysis.reproduction.sweep import BLAS, blas_threads
    assert [ensemble_setting(t) for t in ("auto", "off", "7")] == ["auto", "off", 7]
    with pytest.raises(ValueError, match="choose auto, off or a whole number of runs >= 1; got '0'"):
        ensemble_setting("0")
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert blas_threads(3) == {name: "2" for name in BLAS} and blas_threads(16) == {name: "1" for name in BLAS}


def test_the_sweep_is_one_frozen_record():
    import dataclasses
    from analysis.reproduction.sweep import Sweep
    sweep = Sweep(root="r", workers=2, listener=object(), client=object(), ensemble=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sweep.root = "elsewhere"
    assert sweep.detached() == Sweep(root="r", workers=2, ensemble=5)


def test_the_index_lists_figures_in_the_order_it_is_given(tmp_path):
    from analysis.reproduction import presets
    from analysis.reproduction.reproduce import write_index
    for name in ("figB", "figA"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "numbers.json").write_text('{"claims": [], "seconds": 1}')
    write_index(str(tmp_path), presets.get("test"), order=["figB", "figA", "figC"])
    text = (tmp_path / "CLAIMS.md").read_text()
    assert text.index("figB 1 s") < text.index("figA 1 s")
    write_index(str(tmp_path), presets.get("test"))                      # no order: the folders, sorted
    text = (tmp_path / "CLAIMS.md").read_text()
    assert text.index("figA 1 s") < text.index("figB 1 s")


def test_run_bars_count_runs_and_say_a_shared_reason_once():
    from analysis.reproduction.listeners import RunBars

    class Bars:
        def __init__(self):
            self.said, self.tasks, self.console = [], {}, self

        def add_task(self, name, total, completed=0):
            self.tasks[len(self.tasks)] = [name, completed, total]
            return len(self.tasks) - 1

        def remove_task(self, task):
            del self.tasks[task]

        def advance(self, task):
            self.tasks[task][1] += 1

        def print(self, line):
            self.said.append(line)
    bars = Bars()
    listener = RunBars(bars, plain=True)
    listener.begin(3, 0)
    for name in ("a", "b"):
        listener.finished(name, "failed", 1.0, "no data")
    assert bars.tasks[0] == ["runs", 2, 3]
    assert bars.said[0] == "  run 1/3: a failed (1 s)" and sum("no data" in line for line in bars.said) == 1


def test_the_spectrum_readout_is_a_table_of_strings():
    from analysis.readouts import spectrum_readout
    result = {"fractions": {"degenerate": 0.5, "negative": 0.125, "window": 3e-3},
              "operator": {"dim": 1234, "n_samples": 200}, "top": [2.0, 1.0]}
    title, columns, rows = spectrum_readout(result, "exact", "a net")
    assert title == "exact spectrum of a net" and columns == ("quantity", "value")
    assert ("parameters", "1,234") in rows and ("top", "2, 1") in rows and ("negative fraction (λ < -w)", "0.1250") in rows


def test_reproduce_workers_auto_says_what_it_chose(tmp_path):
    from analysis.reproduction.sweep import auto_workers
    processes, threads = auto_workers()
    result = invoke("reproduce", "fig3", "--preset", "test", "--out", tmp_path, "--workers", "auto",
                    "--stop-after", "0")
    assert f"--workers auto: {processes} process" in result.output and f"x {threads} BLAS" in result.output
    bad = invoke("reproduce", "fig3", "--preset", "test", "--out", tmp_path, "--workers", "two")
    assert bad.exit_code == 2 and "auto or a whole number" in bad.output and "Traceback" not in bad.output
