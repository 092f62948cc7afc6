"""The analysis commands end to end: spectrum (three methods, fresh net or run folder), singularities, Fig S3."""
import json

import numpy
import pytest
from click.testing import CliRunner

from cli import main

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
def test_spectrum_methods_write_results_and_plots(tmp_path, method, exact_result):
    result = invoke("spectrum", *TINY_NET, "--method", method, "--probes", "4", "--steps", "40", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "density.png").stat().st_size > 10_000
    saved = json.load(open(tmp_path / "result.json"))
    assert saved["method"] == method and saved["operator"]["n_samples"] == 200
    assert abs(sum(saved["fractions"][k] for k in ("negative", "degenerate", "positive")) - 1) < 1e-9
    if method == "slq":   # 40 steps on a 460-dim operator: the extreme Ritz values are the exact extremes
        assert numpy.isclose(saved["top"][0], exact_result["top"][0], rtol=1e-6)
        assert numpy.isclose(saved["bottom"][0], exact_result["bottom"][0], rtol=1e-6)
    assert "degenerate fraction" in result.output


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


@pytest.mark.filterwarnings("ignore:Lanczos breakdown")   # expected: full-length Lanczos on a tiny net
def test_fig_s3_pipeline_runs_and_resumes(tmp_path):
    result = invoke("validate-spectra", "--quick", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    rows = json.load(open(tmp_path / "fig_s3.json"))["rows"]
    assert [(r["arch"], r["epoch"]) for r in rows] == [("plain", 0), ("plain", 2), ("residual", 0), ("residual", 2)]
    for r in rows:
        # SLQ with as many steps as dimensions finds every eigenvalue; only its probe weights are random
        # (standard error about 0.025 here), so it must land near the exact fractions
        assert abs(r["slq_negative"] - r["exact_negative"]) < 0.1
        assert abs(r["slq_degenerate"] - r["exact_degenerate"]) < 0.1
    assert (tmp_path / "fig_s3.png").exists()
    again = invoke("validate-spectra", "--quick", "--out", tmp_path)      # completed runs are reused
    assert again.exit_code == 0 and json.load(open(tmp_path / "fig_s3.json"))["rows"] == rows
