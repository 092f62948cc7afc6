"""The reproduction pipeline on the tiny `test` preset: definitions run end to end, runs are reused and resumed,
claims say what the numbers say."""
import json
import os
import shutil

import numpy
import pytest
from click.testing import CliRunner

from analysis.reproduction import aggregate, presets, runner
from analysis.reproduction.claims import HELD, NO_DATA, NOT_HELD, NOT_INFORMATIVE, WITHIN, Order, Range, Similar, counted
from analysis.figures import FIGURES
from analysis.reproduction.reproduce import reproduce
from analysis.reproduction.sweep import STOPPED, Sweep

TEST = presets.get("test")


# ----------------------------------------------------------------------------- claims and aggregation

def _rows(values, metric="train_acc", epoch=1):
    return [[{"epoch": 0, metric: 0.0}, {"epoch": epoch, metric: v}] for v in values]


def test_mean_and_standard_error():
    s = aggregate.mean_se([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["n"] == 3 and s["se"] == pytest.approx(1.0 / 3 ** 0.5)
    assert aggregate.mean_se([4.0])["se"] is None and aggregate.mean_se([])["mean"] is None


@pytest.mark.parametrize("a, b, verdict", [
    ([0.9, 0.91, 0.92], [0.5, 0.51, 0.52], HELD),        # a clear difference
    ([0.5, 0.52, 0.48], [0.51, 0.49, 0.5], WITHIN),      # no difference: neither direction is significant
    ([0.4, 0.41, 0.42], [0.5, 0.51, 0.52], NOT_HELD),    # significantly reversed
    ([0.503, 0.505, 0.507], [0.5, 0.501, 0.502], NOT_HELD),   # significant, but below the 1-point minimum effect
])
def test_order_verdicts(a, b, verdict):
    claim = Order("A > B", "train_acc", ("A", "B"), at="last")
    result = claim.evaluate({"A": _rows(a), "B": _rows(b)})
    assert result["verdict"] == verdict
    assert result["epochs"] == [1] and "(n=3)" in result["measured"] and "p = " in result["measured"]


def test_a_one_and_a_half_se_gap_is_one_verdict_not_two():
    """The old rule called a 1.5-SE gap both 'greater' and 'about equal'; now each claim has one test."""
    from analysis.reproduction.claims import difference
    b = [0.0, 1.0, 2.0, 3.0, 4.0]                    # variance 2.5: the SE of the difference of means is 1
    a = [v + 1.5 for v in b]                         # a gap of 1.5 SEs
    effect, se, _ = difference(a, b)
    assert effect / se == pytest.approx(1.5)
    values = {"A": _rows(a, "m"), "B": _rows(b, "m")}
    order = Order("A > B", "m", ("A", "B"), at="last").evaluate(values)
    similar = Similar("A ≈ B", "m", ("A", "B"), at="last", margin=0.1).evaluate(values)
    assert order["verdict"] == WITHIN                # t = 1.5 on 8 degrees of freedom: p = 0.086 > 0.05
    assert order["tests"][0]["p"] == pytest.approx(0.086, abs=0.002)
    assert similar["verdict"] == WITHIN              # nor is it shown to be within ±0.1 (or outside it)


def test_equivalence_within_and_outside_its_margin():
    rng = __import__("numpy").random.default_rng(0)
    a, b = 0.50 + 0.002 * rng.standard_normal(8), 0.505 + 0.002 * rng.standard_normal(8)
    values = {"A": _rows(list(a)), "B": _rows(list(b))}
    assert Similar("A ≈ B", "train_acc", ("A", "B"), at="last").evaluate(values)["verdict"] == HELD   # margin 0.02
    assert Similar("A ≈ B", "train_acc", ("A", "B"), at="last", margin=0.001).evaluate(values)["verdict"] == NOT_HELD
    few = {"A": _rows([0.5, 0.6]), "B": _rows([0.45, 0.58])}                                 # too noisy to say
    assert Similar("A ≈ B", "train_acc", ("A", "B"), at="last").evaluate(few)["verdict"] == WITHIN


def test_trend_by_rank_correlation_with_noise():
    from analysis.reproduction.claims import Trend
    rng = __import__("numpy").random.default_rng(1)
    betas = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
    values = {f"b{b}": _rows(list(0.5 - 0.02 * i + 0.015 * rng.standard_normal(3))) for i, b in enumerate(betas)}
    groups = tuple(values)
    chain = Order("falls", "train_acc", groups, at="last", min_effect=0.0).evaluate(values)
    trend = Trend("falls", "train_acc", groups, at="last", x=betas, sign=-1).evaluate(values)
    assert chain["verdict"] != HELD and trend["verdict"] == HELD          # noise breaks a strict chain, not the trend
    assert "Spearman ρ = -0." in trend["measured"]
    assert Trend("rises", "train_acc", groups, at="last", x=betas, sign=+1).evaluate(values)["verdict"] == NOT_HELD


def test_paired_tests_use_the_seeds_differences():
    a, b = [0.50, 0.60, 0.70], [0.48, 0.585, 0.68]                    # seeds vary a lot, the difference little
    values = {"A": _rows(a, "m"), "B": _rows(b, "m")}
    assert Order("A > B", "m", ("A", "B"), at="last").evaluate(values)["verdict"] == WITHIN
    assert Order("A > B", "m", ("A", "B"), at="last", paired=True).evaluate(values)["verdict"] == HELD


def test_order_without_data_and_range_and_by_construction():
    from analysis.reproduction.claims import counted
    assert Order("A > B", "train_acc", ("A", "B")).evaluate({"A": _rows([0.5])})["verdict"] == NO_DATA
    apart = {"A": _rows([0.9, 0.91, 0.92]), "B": _rows([0.5, 0.51, 0.52])}
    assert Range("in [0.4, 1]", "train_acc", ("A", "B"), low=0.4, high=1.0).evaluate(apart)["verdict"] == HELD
    assert Range("in [0.6, 1]", "train_acc", ("A", "B"), low=0.6, high=1.0).evaluate(apart)["verdict"] == NOT_HELD
    ranked = Order("A > B (the ranking)", "train_acc", ("A", "B"), by_construction=True).evaluate(apart)
    assert ranked["by_construction"] and counted([ranked, ranked | {"by_construction": False}]) != [ranked]
    assert len(counted([ranked])) == 0


def test_value_at_reads_the_right_epoch():
    rows = [{"epoch": e, "m": float(e)} for e in range(5)] + [{"epoch": 5}]
    assert aggregate.value_at(rows, "m", "last") == 4.0
    assert aggregate.value_at(rows, "m", "early") == 1.0
    assert aggregate.value_at(rows, "m", "mean") == 2.5     # epochs 1..4
    assert aggregate.value_at(rows, "m", 3) == 3.0 and aggregate.value_at(rows, "m", 9) is None


def test_rank_split_keeps_best_and_worst_by_mean_accuracy():
    runs = _rows([0.3, 0.9, 0.1, 0.5])
    best, worst = aggregate.rank_split(runs, 1)
    assert best[0][1]["train_acc"] == 0.9 and worst[0][1]["train_acc"] == 0.1


def test_derived_gradient_ratio_and_activation_growth():
    row = aggregate.derive({"epoch": 0, "meters/grad/layer01": 1.0, "meters/grad/layer02": 4.0,
                            "meters/rms/layer01": 2.0, "meters/rms/layer02": 8.0})
    assert row["meters/grad/first_over_last"] == 0.25 and row["meters/rms/growth_last_first"] == 4.0


# ----------------------------------------------------------------------------- definitions

def test_every_definition_builds_its_runs_for_every_preset():
    for preset in presets.PRESETS:
        p = presets.get(preset)
        for name, figure in FIGURES.items():
            if figure.kind != "runs":
                continue
            groups = figure.groups(p)
            assert groups and all(isinstance(runs, list) for runs in groups.values()), name
            specs = [s for runs in groups.values() for s in runs]
            assert all(s.name.endswith(s.key) for s in specs)
            for runs in groups.values():
                assert len({s.key for s in runs}) == len(runs), name        # every seed is its own run


def test_runs_are_identified_by_content_and_shared_between_figures():
    fig5 = FIGURES["fig5"].groups(TEST)
    fig6 = FIGURES["fig6"].groups(TEST)
    assert [s.name for s in fig5["Residual (CIFAR-100)"]] == [s.name for s in fig6["Residual"]]
    quick = presets.get("quick")
    assert (FIGURES["fig3"].groups(quick)["Plain"][0].key                 # 20 against 30 layers
            != FIGURES["fig5"].groups(quick)["Plain (CIFAR-100)"][0].key)
    a, b = fig5["Plain (CIFAR-100)"][:2]
    assert a.key != b.key                                                # seeds differ
    key = a.key
    a.config.device, a.config.data = "cuda", dict(a.config.data, root="/elsewhere")
    assert a.key == key                                                  # where it runs is not what it is
    a.config.epochs += 1
    assert a.key != key


def test_quick_preset_matches_the_declared_protocol():
    quick = presets.get("quick")
    fig3 = FIGURES["fig3"].groups(quick)
    spec = fig3["Hyperres"][0]
    assert spec.config.model["depth"] == 20 and spec.config.model["width"] == 128
    assert spec.config.data == {"name": "cifar100", "subset": [5000, 2000]}
    assert len(fig3["Plain"]) == 3 and spec.config.epochs == 8
    assert spec.plan["hessian"]["epochs"] == [0, 2, 8]
    fidelity = FIGURES["fidelity"].groups(quick)
    assert len(fidelity) == 8 * 8 and all(len(runs) >= 3 for runs in fidelity.values())
    assert fidelity["stated / fig3 Plain"][0].name == fig3["Plain"][0].name       # stated cell = Fig 3's own run
    raw = fidelity["preprocess=raw / fig5 BiasReg"][0]
    assert raw.config.data["preprocess"] == "raw"
    assert fidelity["scaled skips / fig3 Hyperres"][0].config.model["skip_scale"] == "average"
    assert fidelity["scaled skips / fig5 Residual"][0].config.model["skip_scale"] == "branch"
    assert fidelity["scaled skips / fig5 Plain"][0].name == fidelity["stated / fig5 Plain"][0].name


def test_incomplete_figures_are_told_without_the_cli():
    """reproduce's closing sentence: a figure with runs not done or claims without data, judged by its last stage."""
    from analysis.reproduction.reproduce import Incomplete
    claims = [{"verdict": HELD}, {"verdict": NO_DATA}, {"verdict": HELD, "by_construction": True}]
    incomplete = Incomplete()
    assert incomplete.record("fig3", {"claims": claims[:1], "not_finished": {}}) == (1, 1)
    assert incomplete.sentence(1) is None
    assert incomplete.record("fig5", {"claims": claims, "not_finished": {
        "a": ("failed", "no data"), "b": ("diverged", "nan"), "c": ("new", runner.LATER)}}) == (1, 2)
    assert incomplete.record("fig6", {"claims": claims, "not_finished": {}}) == (1, 2)
    assert incomplete.record("fig7", {"claims": [], "not_finished": {"a": ("partial", STOPPED)}}) == (0, 0)
    assert incomplete.sentence(4) == (
        "3 of 4 figures are incomplete (fig5: 1 runs not done, fig6: 1 claims without data, fig7: 1 runs not done "
        "(stopped at the time limit: the same command continues them)); everything else is written, and each "
        "report.md says why")
    incomplete.record("fig5", {"claims": claims[:1], "not_finished": {}})        # its last stage completes it
    assert "fig5" not in incomplete.sentence(4) and incomplete.sentence(4).startswith("2 of 4 figures")


def test_a_sweep_is_one_object_and_its_workers_get_it_without_listener_or_client(tmp_path):
    import dataclasses
    import pickle
    from analysis.reproduction.reproduce import sweep_runs
    sweep = Sweep(str(tmp_path), workers=2, data_root="data", device="cpu", listener=runner.Listener(),
                  client=object(), ensemble=4, stop_at=5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sweep.root = "elsewhere"
    detached = pickle.loads(pickle.dumps(sweep.detached(root="/abs")))
    assert detached == Sweep("/abs", workers=2, data_root="data", device="cpu", ensemble=4, stop_at=5.0)
    figures = [FIGURES["fig3"], FIGURES["fig3"], FIGURES["fig2"]]      # shared runs count once; a toy has none
    assert sweep_runs(figures, TEST, str(tmp_path)) == (sum(map(len, FIGURES["fig3"].groups(TEST).values())), 0)


# ----------------------------------------------------------------------------- end to end

def test_fig6_end_to_end_then_reused(fig6_test_sweep, tmp_path):
    fresh, summary = fig6_test_sweep            # reproduce(FIGURES["fig6"], TEST, Sweep(fresh)), once for the session
    shutil.copytree(fresh, tmp_path, dirs_exist_ok=True)        # reused below in a copy: the shared folder stays
    root = str(tmp_path)
    out = tmp_path / "fig6"
    for name in ("figure.png", "numbers.json", "claims.csv", "report.md"):
        assert (out / name).stat().st_size > 0
    claims = len(FIGURES["fig6"].claims)
    assert len(summary["claims"]) == claims
    assert summary["not_finished"] == {}
    numbers = json.loads((out / "numbers.json").read_text())
    runs = FIGURES["fig6"].groups(TEST)
    for claim, c in zip(FIGURES["fig6"].claims, numbers["claims"]):
        stats = [c["stats"][g] for g in claim.groups]
        assert all(s["n"] == 2 for s in stats)
        if isinstance(claim.at, int):           # read at a fixed epoch: the mean is the curve's at that epoch
            curve = numbers["curves"][claim.groups[0]][claim.metric]
            assert curve["mean"][curve["epochs"].index(claim.at)] == pytest.approx(stats[0]["mean"], rel=1e-12)
        rows = {g: [[aggregate.derive(r) for r in runner.metrics(root, spec)] for spec in runs[g]] for g in claim.groups}
        values = {g: [aggregate.value_at(r, claim.metric, claim.at) for r in rows[g]] for g in claim.groups}
        ends = [numpy.mean([aggregate.value_at(r, "train_acc", "last") for r in rows[g]]) for g in claim.groups]
        at_chance = all(end <= 1 / presets.classes(runs[g][0].config.data) + 0.02 for g, end in zip(claim.groups, ends))
        assert (c["verdict"] == NOT_INFORMATIVE) == at_chance, c           # the chance rule, by hand
        assert c.get("tested", c["verdict"]) == _verdict_by_hand(claim, values), c
    assert numbers["curves"]["Residual"]["train_acc"]["n"][-1] == 2
    assert "meters/grad/layer01" in numbers["curves"]["Plain"]
    report = (out / "report.md").read_text()
    assert "| paper's claim |" in report and report.count("\n| ") == claims + 1

    class Count(runner.Listener):
        def begin(self, total, done):
            self.total, self.done = total, done
    listener = Count()
    again = reproduce(FIGURES["fig6"], TEST, Sweep(root, listener=listener))
    assert listener.done == listener.total == 10
    assert [c["measured"] for c in again["claims"]] == [c["measured"] for c in summary["claims"]]


def test_an_interrupted_run_resumes_to_the_same_numbers(tmp_path):
    spec = FIGURES["fig3"].groups(TEST)["Residual"][0]
    whole = str(tmp_path / "whole")
    runner.execute([spec], Sweep(whole))
    broken = str(tmp_path / "broken")
    runner.execute([spec], Sweep(broken))
    folder = runner.run_dir(broken, spec)
    os.remove(os.path.join(folder, "summary.json"))          # as if stopped after the checkpoint of its last epoch
    assert runner.state(broken, spec) == "partial"
    assert runner.execute([spec], Sweep(broken))[spec.name] == ("finished", "")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]   # noqa: E731
    assert strip(runner.metrics(broken, spec)) == strip(runner.metrics(whole, spec))


def test_workers_give_the_same_runs(tmp_path):
    specs = FIGURES["figS6"].groups(TEST)["Plain"]
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    runner.execute(specs, Sweep(one))
    assert set(runner.execute(specs, Sweep(two, workers=2)).values()) == {("finished", "")}
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]   # noqa: E731
    for spec in specs:
        assert strip(runner.metrics(one, spec)) == strip(runner.metrics(two, spec))


def test_missing_data_set_is_reported_not_raised(tmp_path):
    summary = reproduce(FIGURES["figS7-svhn"], TEST, Sweep(str(tmp_path)))
    assert {c["verdict"] for c in summary["claims"]} == {NO_DATA}
    assert all(state == "failed" and "train_32x32.mat" in message and "the tests have no network" in message
               for state, message in summary["not_finished"].values())
    assert not os.path.exists(os.path.join(str(tmp_path), "runs"))     # nothing half-made left behind


def test_toy_figure_end_to_end(tmp_path):
    summary = reproduce(FIGURES["figS5"], TEST, Sweep(str(tmp_path)))
    assert summary["claims"] and (tmp_path / "figS5" / "report.md").exists()
    assert summary["figures"] and all((tmp_path / "figS5" / name).exists() for name in summary["figures"])


def _verdict_by_hand(claim, values):
    """The rule of analysis/reproduction/claims.py written out again, with scipy's own t-tests on the runs' values."""
    from scipy import stats as st
    from analysis.reproduction.claims import ALPHA, MARGIN, MIN_EFFECT
    groups = [numpy.asarray(values[g]) for g in claim.groups]
    if isinstance(claim, Range):
        return HELD if all(claim.low <= g.mean() <= claim.high for g in groups) else NOT_HELD

    def p_greater(a, b, shift):      # p of 'mean(a) - mean(b) > shift'
        test = st.ttest_rel if claim.paired else lambda x, y, **k: st.ttest_ind(x, y, equal_var=False, **k)
        return test(a - shift, b, alternative="greater").pvalue

    if isinstance(claim, Similar):
        a, b = groups
        m = claim.margin if claim.margin is not None else MARGIN.get(
            claim.metric, 0.1 * max(abs(a.mean()), abs(b.mean())))
        if max(p_greater(a, b, -m), p_greater(b, a, -m)) < ALPHA:
            return HELD
        return NOT_HELD if min(p_greater(a, b, m), p_greater(b, a, m)) < ALPHA else WITHIN
    delta = MIN_EFFECT.get(claim.metric, 0.0) if claim.min_effect is None else claim.min_effect
    pairs = [HELD if p_greater(a, b, delta) < ALPHA else NOT_HELD if p_greater(b, a, -delta) < ALPHA else WITHIN
             for a, b in zip(groups, groups[1:])]
    return NOT_HELD if NOT_HELD in pairs else HELD if all(v == HELD for v in pairs) else WITHIN


def test_cli_reproduce_and_index(figS3_test_root, tmp_path):
    from cli import main
    shutil.copytree(figS3_test_root / "runs", tmp_path / "runs")     # its runs trained once for the session
    result = CliRunner().invoke(main, ["reproduce", "figS3", "--preset", "test", "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "CLAIMS.md").read_text()
    assert "[figS3](figS3/report.md)" in index and "overestimates the degenerate fraction" in index
    bad = CliRunner().invoke(main, ["reproduce", "fig99", "--preset", "test", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown figure 'fig99'" in bad.output and "Traceback" not in bad.output
    for setting in ("0", "many"):
        bad = CliRunner().invoke(main, ["reproduce", "figS3", "--preset", "test", "--ensemble", setting])
        assert bad.exit_code == 2 and "choose auto, off or a whole number" in bad.output


def test_help_names_every_figure():
    from cli import main
    text = " ".join(CliRunner().invoke(main, ["reproduce", "--help"]).output.split())
    assert all(f" {name} " in text or f" {name}," in text or f" {name} (" in text for name in FIGURES)


def test_numbers_are_shown_to_the_precision_their_error_allows():
    from analysis.reproduction.claims import format_stats
    assert format_stats({"mean": 0.99731, "se": 4.9e-6, "n": 4}) == "0.9973100 ± 0.0000049 (n=4)"
    assert format_stats({"mean": 0.1057, "se": 0.0019, "n": 4}, percent=True) == "10.57 ± 0.19 (n=4)"
    assert format_stats({"mean": 0.5, "se": None, "n": 1}, percent=True) == "50.00 (n=1)"
    assert format_stats({"mean": None, "se": None, "n": 0}) == "n/a"


# ----------------------------------------------------------------------------- stopping a reproduction with workers

import glob          # noqa: E402  (imports of this section only)
import pathlib       # noqa: E402
import signal        # noqa: E402
import subprocess    # noqa: E402
import sys           # noqa: E402
import time          # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
FIG6 = [sys.executable, "cli.py", "reproduce", "fig6", "--preset", "test", "--workers", "2", "--out"]


def _children(parent):
    """Pids of the live processes whose parent is `parent` (workers and multiprocessing's resource tracker)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue                                 # gone meanwhile
        if int(ppid) == parent and state != "Z":
            found.append(int(stat.split("/")[2]))
    return found


def _alive(pid):
    """Whether `pid` runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _start_with_workers(out):
    """`cli.py reproduce fig6 --workers 2` in a subprocess, once its workers are training; (process, child pids)."""
    if not os.path.exists("/proc/self/stat"):
        pytest.skip("needs /proc to find the worker processes")
    parent = subprocess.Popen(FIG6 + [str(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl-C not ignored
    deadline = time.monotonic() + 60
    while not (os.path.isdir(out / "runs") and os.listdir(out / "runs")):   # a worker made its first run folder
        if parent.poll() is not None or time.monotonic() > deadline:
            parent.kill()
            pytest.fail(f"no run started (exit code {parent.poll()})")
        time.sleep(0.02)
    return parent, _children(parent.pid)


def _wait_gone(pids, seconds=10):
    """The pids still alive after waiting up to `seconds` for them to end; the test's leftovers are killed."""
    deadline = time.monotonic() + seconds
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def test_killed_reproduction_takes_its_workers_along_and_resumes(tmp_path):
    parent, children = _start_with_workers(tmp_path)
    assert len(children) >= 2                                  # two workers (and a resource tracker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _wait_gone(children) == []
    finished = sum(os.path.exists(tmp_path / "runs" / name / "summary.json") for name in os.listdir(tmp_path / "runs"))
    assert finished < 10                                       # killed halfway through
    again = subprocess.run(FIG6 + [str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "fig6" / "numbers.json").exists()


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_stopped_reproduction_ends_its_workers(tmp_path, signal_name):
    parent, children = _start_with_workers(tmp_path)
    parent.send_signal(getattr(signal, signal_name))
    try:
        code = parent.wait(timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert code != 0
    assert _wait_gone(children) == []


def test_runs_differing_only_in_seed_are_grouped_into_ensembles():
    specs = [s for runs in FIGURES["fig3"].groups(TEST).values() for s in runs]
    groups = runner.ensembles(specs, 2)
    assert sorted(s.name for g in groups for s in g) == sorted(s.name for s in specs)
    for group in groups:
        assert 1 <= len(group) <= 2
        assert len({json.dumps(dict(s.identity(), config=dict(s.identity()["config"], seed=0)), sort_keys=True)
                    for s in group}) == 1                       # one net, its seeds
        assert len({s.config.seed for s in group}) == len(group)
    assert all(len(g) == 1 for g in runner.ensembles(specs, 1))
    first = runner.ensembles(specs, 1)[:3]                  # curves take turns: seed 0 of each curve comes first
    assert sorted(g[0].name for g in first) == sorted(runs[0].name for runs in FIGURES["fig3"].groups(TEST).values())
    assert [runner.ensemble_size(setting, device) for setting, device in
            (("off", "cuda"), (7, "cpu"), ("auto", "cpu"), ("auto", "cuda"))] == [1, 7, 10, 50]


def test_auto_ensembles_on_cuda_0_are_the_gpus_size(monkeypatch):
    """--device cuda:0 is the GPU: its sweep gets the GPU's ensemble size, decided without CuPy or a GPU here."""
    from minigrad import backend
    monkeypatch.setitem(sys.modules, "cupy", None)                   # resolving a CUDA device would fail
    monkeypatch.delitem(backend._devices, "cuda", raising=False)
    assert [runner.ensemble_size("auto", device) for device in ("cuda:0", "cuda:1", "cuda", "cpu", "strict")] == \
        [50, 50, 50, 10, 10]


def test_ensembles_give_the_same_numbers_as_single_runs(tmp_path):
    """A figure trained as seed ensembles writes the same run folders and numbers.json, timings aside."""
    def numbers(folder):
        data = json.loads((tmp_path / folder / "fig3" / "numbers.json").read_text())
        data.pop("seconds")
        data["provenance"].pop("training_seconds")
        assert not any("seconds" in curve for curve in data["curves"].values())    # timings are not curves
        return data
    reproduce(FIGURES["fig3"], TEST, Sweep(str(tmp_path / "off"), ensemble=1))
    reproduce(FIGURES["fig3"], TEST, Sweep(str(tmp_path / "on"), ensemble=8))
    assert numbers("off") == numbers("on")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]   # noqa: E731
    for spec in (s for runs in FIGURES["fig3"].groups(TEST).values() for s in runs):
        assert strip(runner.metrics(str(tmp_path / "on"), spec)) == strip(runner.metrics(str(tmp_path / "off"), spec))


def test_a_sweep_stopped_at_its_time_limit_reports_a_partial_figure_and_continues(tmp_path):
    import time
    from cli import main
    root = str(tmp_path)
    groups = FIGURES["fig3"].groups(TEST)
    runner.execute(groups["Plain"], Sweep(root))                    # done before the limit
    summary = reproduce(FIGURES["fig3"], TEST, Sweep(root, stop_at=time.time() - 1))
    assert {name: message for name, (_, message) in summary["not_finished"].items()} == {
        s.name: STOPPED for label in ("Residual", "Hyperres") for s in groups[label]}
    assert summary["runs_per_group"] == {"Plain": 2, "Residual": 0, "Hyperres": 0}
    where = summary["provenance"]
    assert where["partial"] and where["seeds"]["Plain"] == {"done": [0, 1], "declared": 2}
    assert where["seeds"]["Residual"] == {"done": [], "declared": 2}
    report = (tmp_path / "fig3" / "report.md").read_text()
    assert "**Partial: 2 of the 6 runs" in report and "Plain 2 of 2 (0–1); Residual 0 of 2 (none)" in report
    assert f"- 4 runs, new: {STOPPED}" in report                  # runs stopped alike are counted, not listed
    result = CliRunner().invoke(main, ["reproduce", "fig3", "--preset", "test", "--workers", "1", "--out", root, "--stop-after", "0"])
    assert result.exit_code == 1 and "stopped at the time limit: the same command continues them" in result.output
    whole = reproduce(FIGURES["fig3"], TEST, Sweep(root))    # the same command without a limit finishes the figure
    assert not whole["not_finished"] and not whole["provenance"]["partial"]
    assert set(whole["provenance"]["training_seconds"]) == {__import__("minigrad").describe("cpu")}
    assert "All runs done. Seeds per curve: Plain 2 of 2 (0–1)" in (tmp_path / "fig3" / "report.md").read_text()


def test_seed_ranges_and_commit():
    from analysis.reproduction.reproduce import commit, seed_ranges
    assert seed_ranges([7, 0, 1, 2, 5, 8]) == "0–2, 5, 7–8" and seed_ranges([]) == "none"
    assert commit() is None or __import__("re").fullmatch(r"[0-9a-f]{12}\+?", commit())


def test_fig4_shares_fig5s_plain_runs():
    for preset in (TEST, presets.get("quick"), presets.get("paper")):
        fig4 = [s.name for s in FIGURES["fig4"].groups(preset)["Plain"]]
        fig5 = [s.name for s in FIGURES["fig5"].groups(preset)["Plain (CIFAR-100)"]]
        assert fig5 == fig4[:len(fig5)]


def _fit_rows(values, ok, metric="hessian/degeneracy"):
    return [[{"epoch": 0}, {"epoch": 1, metric: v, "hessian/fit_ok": float(good),
                            "hessian/wide/degeneracy": v, "hessian/wide/fit_ok": 1.0}]
            for v, good in zip(values, ok)]


def test_a_claim_on_a_fit_that_misses_its_moments_is_no_fit():
    from analysis.reproduction.claims import NO_FIT
    claim = Order("a > b", "hessian/degeneracy", ("a", "b"), at="last")
    fine = claim.evaluate({"a": _fit_rows([0.9, 0.91, 0.92], [1, 1, 1]), "b": _fit_rows([0.1, 0.11, 0.12], [1, 1, 1])})
    assert fine["verdict"] == HELD and fine["wide"]["verdict"] == HELD and fine["wide"]["metric"] == "hessian/wide/degeneracy"
    stuck = claim.evaluate({"a": _fit_rows([0.9, 0.91, 0.92], [1, 0, 1]), "b": _fit_rows([0.1, 0.11, 0.12], [1, 1, 1])})
    assert stuck["verdict"] == NO_FIT and stuck["wide"]["verdict"] == HELD
    other = Order("a > b", "train_acc", ("a", "b"), at="last")        # not read from a fit: judged as ever
    assert other.evaluate({"a": _rows([0.9, 0.91, 0.92]), "b": _rows([0.1, 0.11, 0.12])})["verdict"] == HELD


def test_the_narrowing_gap_has_its_wide_grid_twin():
    from analysis.reproduction.claims import Narrows

    def runs(early, late):
        return [[{"epoch": 0}] + [{"epoch": e, "hessian/degeneracy": v + d, "hessian/fit_ok": 1.0,
                                   "hessian/wide/degeneracy": v + d, "hessian/wide/fit_ok": 0.0}
                                  for e, v in ((1, early), (2, late))] for d in (0.0, 0.01, 0.03)]
    claim = Narrows("gap narrows", "hessian/degeneracy", ("a", "b")).evaluate(
        {"a": runs(0.9, 0.5), "b": runs(0.1, 0.45)})
    assert claim["verdict"] == HELD and claim["wide"]["verdict"] == "no fit"
    assert claim["wide"]["metric"] == "hessian/wide/degeneracy"


def test_a_claim_at_chance_is_not_informative_and_not_counted():
    """Every group ends within 2 points of chance: the claim reads not informative whatever its test gives."""
    from analysis.reproduction.claims import counted, decided, judge
    claim = Order("A > B", "train_acc", ("A", "B"), at="last", min_effect=0.0)
    low, lower = _rows([0.062, 0.064, 0.066]), _rows([0.050, 0.051, 0.052])      # 5-6.6% with 20 classes
    result = judge(claim, {"A": low, "B": lower}, {"A": 0.05, "B": 0.05})
    assert result["verdict"] == NOT_INFORMATIVE and result["tested"] == HELD and not counted([result])
    assert "chance 5%" in result["at_chance"] and decided(result["verdict"]) == ""
    learned = _rows([0.30, 0.31, 0.32])                                            # one net learned: informative
    assert judge(claim, {"A": learned, "B": lower}, {"A": 0.05, "B": 0.05})["verdict"] == HELD
    assert judge(claim, {"A": low, "B": lower}, {"A": 0.01, "B": 0.01})["verdict"] == HELD   # 100 classes: above chance
    assert judge(claim, {"A": low, "B": lower}, {})["verdict"] == HELD             # chance unknown: not judged


def test_claims_csv_is_tidy_and_prints_the_minimum_effect():
    import csv
    import io
    from analysis.reproduction.reproduce import CLAIM_COLUMNS, claim_rows, claims_table
    chain = Order("A > B > C", "train_acc", ("A", "B", "C"), at="last", percent=True, paired=True).evaluate(
        {"A": _rows([0.9, 0.91, 0.92]), "B": _rows([0.5, 0.52, 0.53]), "C": _rows([0.1, 0.12, 0.11])})
    assert "(paired, δ = 1)" in chain["measured"]            # the p-value's test and its δ, in the claim's units
    rows = claim_rows("figX", chain)
    assert len(rows) == 2 and all(len(r) == len(CLAIM_COLUMNS) for r in rows)     # one row per tested pair
    buffer = io.StringIO()
    csv.writer(buffer).writerows([CLAIM_COLUMNS] + rows)
    first, second = csv.DictReader(io.StringIO(buffer.getvalue()))
    assert (first["group a"], first["group b"], second["group a"], second["group b"]) == ("A", "B", "B", "C")
    assert float(first["mean a"]) == pytest.approx(0.91) and first["n a"] == "3" and float(first["delta"]) == 0.01
    assert first["test"] == "paired" and first["sides"] == "one-sided" and first["verdict"] == HELD
    assert float(first["ci90 low"]) < float(first["effect"]) < float(first["ci90 high"]) and float(first["p"]) < 0.05
    same = Similar("A ≈ B", "m", ("A", "B"), at="last", margin=0.1).evaluate({"A": _rows([1.0, 1.1], "m"),
                                                                               "B": _rows([1.05, 1.0], "m")})
    (row,) = claim_rows("figX", same)
    assert dict(zip(CLAIM_COLUMNS, row))["test"] == "TOST" and dict(zip(CLAIM_COLUMNS, row))["margin"] == "0.1"
    (empty,) = claim_rows("figX", Order("A > B", "m", ("A", "B")).evaluate({"A": _rows([1.0], "m")}))
    assert dict(zip(CLAIM_COLUMNS, empty))["verdict"] == NO_DATA and dict(zip(CLAIM_COLUMNS, empty))["test"] == ""
    repeated = Order("A > B", "m", ("A", "B"), at="last", repeats="its stated cell").evaluate(
        {"A": _rows([1.0, 1.1], "m"), "B": _rows([0.0, 0.1], "m")})
    assert not counted([repeated]) and "the same runs as its stated cell: not counted" in claims_table([("f", repeated)])


def test_a_negligible_standard_error_prints_as_zero():
    from analysis.reproduction.claims import format_stats
    assert format_stats({"mean": 0.0013642297, "se": 1e-15, "n": 3}) == "0.00136423 ± 0 (n=3)"
    assert format_stats({"mean": 0.9972776, "se": 5.3e-6, "n": 5}) == "0.9972776 ± 0.0000053 (n=5)"   # small, shown


def test_the_fidelity_grid_tests_paired_and_counts_a_repeated_cell_once():
    claims = FIGURES["fidelity"].claims(TEST)
    assert all(c.paired for c in claims)
    by_text = {c.text: c for c in claims}
    assert by_text["Fig 5b: BiasReg > Plain — scaled skips"].repeats      # neither net has a skip to scale
    assert by_text["Fig 5b: BiasReg > Plain — preprocess=unit"].repeats is None
    assert by_text["Fig 5b: BiasReg > Plain — stated"].repeats is None
    assert by_text["Fig 3: skip connections help, Residual > Plain — SkipInit"].repeats is None


def test_derived_rows_carry_both_fits_of_their_moments():
    from analysis.spectra.mixture_fit import mixture_moments
    m = mixture_moments(w=5e-4, xi=10.0, omega=3.0, alpha=1.0)
    row = aggregate.derive({"epoch": 2, **{f"hessian/m{k}": float(v) for k, v in enumerate(m, 1)}})
    assert {"hessian/fit_error", "hessian/fit_edges", "hessian/fit_ok", "hessian/wide/degeneracy",
            "hessian/wide/negativity", "hessian/wide/w", "hessian/wide/fit_ok"} <= set(row)
    assert row["hessian/fit_error"] < 0.1


def test_verdicts_do_not_depend_on_the_blas_thread_count(tmp_path):
    """The numbers may differ in their last bits between 1 and 2 BLAS threads (summation order); the verdicts may not."""
    verdicts, curves, children = [], [], []
    for threads in ("1", "2"):      # the two reproductions run side by side: each is its own process, own folder
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        command = [sys.executable, "cli.py", "reproduce", "fig3,fig5,fig6", "--preset", "test", "--workers", "1",
                   "--out", str(tmp_path / f"threads{threads}")]
        with open(tmp_path / f"threads{threads}.log", "wb") as log:        # a file, not a pipe: neither waits on us
            children.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [child.wait(timeout=600) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert codes == [0, 0], [(tmp_path / f"threads{t}.log").read_text() for t in ("1", "2")]
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}"
        verdicts.append([(name, c["claim"], c["verdict"]) for name in ("fig3", "fig5", "fig6")
                         for c in json.loads((out / name / "numbers.json").read_text())["claims"]])
        curves.append(json.loads((out / "fig3" / "numbers.json").read_text())["curves"])
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) > 10     # no verdict follows the thread count
    if curves[0] == curves[1]:      # whether the numbers drift at all is the BLAS's choice of kernel, not ours
        pytest.skip("this machine's BLAS gives bit-identical curves under 1 and 2 threads: the verdicts agreed, "
                    "but there was no drift for them to survive")


def _course(values_by_epoch, metric="m"):
    """One run's rows from {epoch: value}."""
    return [{"epoch": 0}] + [{"epoch": e, metric: v} for e, v in sorted(values_by_epoch.items())]


def test_time_course_claims_on_constructed_curves():
    from analysis.reproduction.claims import Narrows, SeparatesFirst, Tracks
    rng = numpy.random.default_rng(3)
    noise = lambda: 0.05 * rng.standard_normal()      # noqa: E731
    a = [_course({1: 5 + noise(), 8: 1 + noise()}) for _ in range(4)]
    b = [_course({1: 0 + noise(), 8: 0.5 + noise()}) for _ in range(4)]
    assert Narrows("gap narrows", "m", ("A", "B")).evaluate({"A": a, "B": b})["verdict"] == HELD
    assert Narrows("gap narrows", "m", ("A", "B"), early="last", late="early").evaluate(
        {"A": a, "B": b})["verdict"] == NOT_HELD

    def runs(shift_from, metric, up):          # a metric whose groups part from epoch `shift_from` on
        return [dict(r, **{metric: (1.0 if up and r["epoch"] >= shift_from else 0.0) + noise()}) for r in
                [{"epoch": e} for e in range(1, 6)]]
    worst = [[{"epoch": 0}] + [dict(o, **e) for o, e in zip(runs(1, "overlap", True), runs(4, "norm", False))]
             for _ in range(4)]
    best = [[{"epoch": 0}] + [dict(o, **e) for o, e in zip(runs(1, "overlap", False), runs(4, "norm", True))]
            for _ in range(4)]
    first = SeparatesFirst("overlap first", "overlap", "norm", ("Worst", "Best"), signs=(1, -1))
    found = first.evaluate({"Worst": worst, "Best": best})
    assert found["verdict"] == HELD and "overlap: first significant at epoch 1" in found["measured"]
    later = SeparatesFirst("norm first", "norm", "overlap", ("Best", "Worst"), signs=(1, -1))
    assert later.evaluate({"Worst": worst, "Best": best})["verdict"] == NOT_HELD
    together = [_course({e: e + noise() for e in range(1, 7)}) for _ in range(5)]
    for rows in together:
        for r in rows[1:]:
            r["o"] = 2 * r["m"] + noise()
    assert Tracks("m tracks o", "m", "o", ("G",)).evaluate({"G": together})["verdict"] == HELD
    both_ways = [[dict(r, o=(1 if i % 2 else -1) * r["m"]) if "m" in r else r for r in rows]
                 for i, rows in enumerate(together[:4])]              # ρ = +1 in half the runs, −1 in the rest
    assert Tracks("m tracks o", "m", "o", ("G",)).evaluate({"G": both_ways})["verdict"] == WITHIN


def test_many_curves_list_their_seeds_as_a_table():
    from analysis.reproduction.reproduce import TABLE_CURVES, provenance_lines
    where = {"seeds": {f"net {i}": {"done": [0, 1, 2][:1 + i % 3], "declared": 3} for i in range(TABLE_CURVES + 1)},
             "partial": True, "training_seconds": {}, "commit": None}
    paragraph, _, head, _, *rows = provenance_lines(where)
    assert "Seeds done per curve in the table below." in paragraph and head == "| curve | seeds done | of | which |"
    assert rows[0] == "| net 0 | 1 | 3 | 0 |" and rows[2] == "| net 2 | 3 | 3 | 0–2 |" and len(rows) == TABLE_CURVES + 1
    few = dict(where, seeds=dict(list(where["seeds"].items())[:2]))
    assert provenance_lines(few)[0].count("Seeds done per curve: net 0 1 of 3 (0); net 1 2 of 3 (0–1).") == 1
