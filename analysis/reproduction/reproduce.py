"""Reproduce one figure: its runs, their aggregate, its claims, and the folder a reader opens.

<root>/<figure>/ gets figure.png, numbers.json (the curves the figure draws or its claims
read, with their SEs; the claims with their per-group statistics; run names and states,
the first run's settings and the figure's provenance), claims.csv and report.md. Runs
live in <root>/runs/ and are shared by all figures of one preset. reproduce_stages carries out a
sweep's stages in order, one figure after another, and Incomplete says which were left incomplete.
"""
import collections
import csv
import io
import json
import os
import time
from dataclasses import asdict

from models.files import write_json, write_text
from models.training.provenance import commit

from . import aggregate
from .claims import HELD, NO_DATA, counted, decided, judge, why_not_counted
from .figure_plots import class_counts, plot_figure
from .runner import LATER, MISMATCH, execute, metrics, set_aside
from .sweep import DONE, STOPPED, SUMMARY, run_dir, state
from .spec import Curve, Layers


def reproduce(figure, preset, sweep, curves=None, seeds=None):
    """Run (or reuse) everything `figure` needs under `preset` and write its results folder; returns the summary.

    sweep: where and how the runs are carried out (a sweep.Sweep): the results folder <sweep.root>, the
    processes or cluster, the data folder, the device, the listener, the ensembles (runner.execute).
    sweep.stop_at: a time.time() after which no training epoch begins (runner.execute). The figure is then drawn
    from the runs done so far and its report says it is partial, with the seeds each curve has.
    curves, seeds: train only the first `seeds` seeds of the curves labelled in `curves` (None: all), a stage
    of a plan (analysis/figures/plan.py); the figure is drawn from every run done.
    Only done runs (finished or diverged) enter the curves: a run stopped half way would mix epochs.
    """
    began, root = time.perf_counter(), sweep.root
    out = os.path.join(root, figure.name)
    os.makedirs(out, exist_ok=True)
    if figure.kind != "runs":
        summary = figure.run(preset, out)
        return finish(figure, preset, out, summary["claims"], summary, time.perf_counter() - began)
    groups = figure.groups(preset)
    specs = [spec for runs in groups.values() for spec in runs]
    trained = None if curves is None and seeds is None else {
        spec.name for label, runs in groups.items() if curves is None or label in curves for spec in runs[:seeds]}
    states = execute(specs, sweep, trained)
    done = {label: [s for s in runs if states[s.name][0] in DONE] for label, runs in groups.items()}
    read = {}
    for spec in {s.name: s for runs in done.values() for s in runs}.values():
        try:
            read[spec.name] = [aggregate.derive(row) for row in metrics(root, spec)]
        except (OSError, ValueError, TypeError) as e:    # damaged after it was checked: set aside, never fatal
            states[spec.name] = (MISMATCH, set_aside(root, spec, f"a file cannot be read ({e})"))
    if figure.measure:      # numbers measured after training (from each done run's folder), added to its rows
        by_name = {s.name: s for s in specs}
        read = {name: figure.measure(by_name[name], rows, sweep, preset, out) for name, rows in read.items()}
    done = {label: [s for s in runs if s.name in read] for label, runs in done.items()}
    rows_by_group = {label: [read[s.name] for s in runs if read[s.name]] for label, runs in done.items()}
    if figure.regroup:
        rows_by_group = figure.regroup(rows_by_group, preset)
    curves = {label: aggregate.curves(rows) for label, rows in rows_by_group.items()}
    chance = chance_levels(groups, rows_by_group)
    claims = [judge(claim, rows_by_group, chance) for claim in
              (figure.claims(preset) if callable(figure.claims) else figure.claims)]
    kept = shown(figure, [c["metric"] for c in claims] + [c["wide"]["metric"] for c in claims if "wide" in c])
    curves = {label: {metric: curve for metric, curve in group.items() if kept(metric)}
              for label, group in curves.items()}
    seeds = {label: len(rows) for label, rows in rows_by_group.items()}
    plot_figure(figure, curves, rows_by_group, os.path.join(out, "figure.png"),
                subtitle=f"preset {preset.name}; mean ± SE over " + runs_per_net(seeds), groups=groups)
    failed = {s.name: states[s.name] for s in specs if states[s.name][0] not in ("finished",)}
    summary = {"curves": curves, "claims": claims, "runs": {label: [s.name for s in runs] for label, runs in groups.items()},
               "runs_per_group": seeds, "not_finished": failed, "provenance": provenance(root, done, groups),
               "settings": {"train": asdict(specs[0].config) if specs else None, "plan": specs[0].plan if specs else None}}
    if figure.tables:
        summary["tables"] = figure.tables(claims, rows_by_group)
    return finish(figure, preset, out, claims, summary, time.perf_counter() - began)


def chance_levels(groups, rows_by_group):
    """{label: chance accuracy, one over its runs' classes} for the labels whose runs share one class count; a
    label made by a figure's regrouping (best-k, say) gets the figure's level when all its runs share one."""
    counts = class_counts(groups)
    levels = {label: 1.0 / next(iter(c)) for label, c in counts.items() if len(c) == 1}
    every = set().union(*counts.values()) if counts else set()
    if len(every) == 1:
        levels.update({label: 1.0 / next(iter(every)) for label in rows_by_group if label not in levels})
    return levels


def sweep_runs(figures, preset, root):
    """(runs, done): how many runs the figures in `figures` have under `preset`, each counted once however many
    figures share it, and how many of them are done in `root` already."""
    specs = {spec.name: spec for figure in figures if figure.kind == "runs"
             for runs in figure.groups(preset).values() for spec in runs}
    return len(specs), sum(state(root, spec) in DONE for spec in specs.values())


def reproduce_stages(stages, figures, preset, sweep, say=print):
    """Carry out `stages` (analysis/figures/plan.py's) in order with `sweep`; `figures`: the figure definitions by
    name (reproduction never imports figures/). Each figure is told to say(line) (rich markup) before it runs (its
    title, and the plan's scope) and after (claims held, seconds, its folder). Returns the sentence naming the
    figures left incomplete (Incomplete), None when every one is complete."""
    incomplete = Incomplete()
    for stage in stages:
        name, began = stage.figure, time.perf_counter()
        scope = "" if stage.seeds is None else f" (plan: {stage.what}, {stage.seeds} seeds per curve)"
        say(f"[bold]{name}[/bold]: {figures[name].title}{scope}")
        held, counted = incomplete.record(name, reproduce(figures[name], preset, sweep, stage.curves, stage.seeds))
        say(f"  {name}: {held}/{counted} claims held, {time.perf_counter() - began:.0f} s -> "
            f"{os.path.join(sweep.root, name)}")
    return incomplete.sentence(len({stage.figure for stage in stages}))


class Incomplete:
    """The figures of a sweep left incomplete so far, and why: runs not done (failed, stopped, set aside; a
    run left to a later stage of a plan does not count) or claims without data. A figure of several
    stages (a plan) is judged by its last."""

    def __init__(self):
        self.why = {}           # figure -> why it is incomplete

    def record(self, name, summary):
        """Judge the figure `name` by its summary (reproduce's); returns (claims held, claims counted)."""
        verdicts = [c["verdict"] for c in counted(summary["claims"])]
        failed = [message for state, message in summary.get("not_finished", {}).values()
                  if state != "diverged" and message != LATER]
        self.why.pop(name, None)
        if failed or NO_DATA in verdicts:
            self.why[name] = (f"{len(failed)} runs not done" if failed else
                              f"{verdicts.count(NO_DATA)} claims without data")
            if failed and set(failed) == {STOPPED}:
                self.why[name] += " (stopped at the time limit: the same command continues them)"
        return verdicts.count(HELD), len(verdicts)

    def sentence(self, figures):
        """None when every figure recorded is complete; else one sentence naming those that are not, of
        `figures` (how many the sweep has) in all."""
        if not self.why:
            return None
        return (f"{len(self.why)} of {figures} figures are incomplete ("
                + ", ".join(f"{n}: {why}" for n, why in self.why.items())
                + "); everything else is written, and each report.md says why")


BASIC = ("train_loss", "train_acc", "test_loss", "test_acc")


def shown(figure, claimed):
    """Whether numbers.json keeps a metric's curves: the figure draws it or a claim reads it (plus the four
    accuracy and loss curves). A run records about 300 metrics an epoch; the rest stay in its metrics.jsonl."""
    keep = set(BASIC) | set(claimed) | {p.metric for p in figure.panels if isinstance(p, Curve)}
    prefixes = tuple(p.prefix + "/layer" for p in figure.panels if isinstance(p, Layers))
    return lambda metric: metric in keep or metric.startswith(prefixes)


DERIVED_FROM = {"meters/grad/first_over_last": "meters/grad", "meters/rms/growth_last_first": "meters/rms"}


def reads(figure, preset):
    """Whether `figure` reads a metric of its runs' rows: what shown() keeps, the Hessian's rows (the mixture
    fits are derived from their moments), the per-layer meters behind each derived ratio it reads, and the
    epoch and its seconds. The rest of a row is what a compact archive of the figure's runs leaves out."""
    claims = figure.claims(preset) if callable(figure.claims) else figure.claims
    metrics = {getattr(c, k) for c in claims for k in ("metric", "first", "then", "other") if getattr(c, k, None)}
    metrics |= {getattr(p, k) for p in figure.panels for k in ("x", "y") if isinstance(getattr(p, k, None), str)}
    metrics |= {m for p in figure.panels for m in getattr(p, "metrics", ())}        # a figure's own panels
    keep = shown(figure, metrics)
    layers = tuple(prefix + "/layer" for derived, prefix in DERIVED_FROM.items()
                   if derived in metrics or any(getattr(p, "metric", None) == derived for p in figure.panels))
    return lambda metric: (keep(metric) or metric in metrics or metric in ("epoch", "seconds")
                           or metric.startswith(("hessian/",) + layers))


def provenance(root, done, groups):
    """Where a figure's numbers come from: the commit of this code, the seeds each curve has of those it
    declares, and the time each machine spent on them (the runs' own records, summary.json).

    training_seconds: {machine: {"total", "training", "measuring", "not_split"}}, seconds summed over the runs;
    "total" is all of it (seconds_total), "training" and "measuring" the parts of runs that timed them apart
    (models/training/loop.py), "not_split" the rest (runs, or epochs of runs, trained before the split was
    recorded; a run whose summary.json gives no split at all counts there whole)."""
    time_by_machine = {}
    for runs in done.values():
        for spec in runs:
            try:
                with open(os.path.join(run_dir(root, spec), SUMMARY)) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                record = {}
            record = record if isinstance(record, dict) else {}
            number = lambda key: float(record.get(key) or 0.0)    # noqa: E731
            total = number("seconds_total")
            split = "seconds_training" in record and "seconds_measuring" in record
            times = time_by_machine.setdefault(record.get("machine", "machines the runs did not record"),
                                               {"total": 0.0, "training": 0.0, "measuring": 0.0, "not_split": 0.0})
            times["total"] += total
            times["training"] += number("seconds_training") if split else 0.0
            times["measuring"] += number("seconds_measuring") if split else 0.0
            times["not_split"] += number("seconds_not_split") if split else total
    return {"commit": commit(), "partial": any(len(done[label]) < len(runs) for label, runs in groups.items()),
            "seeds": {label: {"done": [s.config.seed for s in done[label]], "declared": len(runs)}
                      for label, runs in groups.items()},
            "training_seconds": time_by_machine}


def seed_ranges(seeds):
    """[0, 1, 2, 5, 7, 8] -> '0–2, 5, 7–8'."""
    spans = []
    for seed in sorted(seeds):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans) or "none"


def finish(figure, preset, out, claims, summary, seconds):
    summary = dict(summary, figure=figure.name, title=figure.title, preset=preset.name, seconds=seconds)
    write_json(os.path.join(out, "numbers.json"), summary, indent=None)   # data, not prose: compact
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CLAIM_COLUMNS)
    for c in claims:
        writer.writerows(claim_rows(figure.name, c))
    write_text(os.path.join(out, "claims.csv"), buffer.getvalue())
    write_text(os.path.join(out, "report.md"), report(figure, preset, claims, summary))
    return summary


CLAIM_COLUMNS = ("figure", "claim", "metric", "at", "epochs", "verdict", "decided", "counted", "wide grid verdict",
                 "test", "sides", "group a", "mean a", "se a", "n a", "group b", "mean b", "se b", "n b",
                 "effect", "ci90 low", "ci90 high", "p", "delta", "margin", "test verdict")


def claim_rows(figure, c):
    """claims.csv's rows of one evaluated claim, tidy: one row per test (each pair of an ordered chain), or one row
    without a test; every statistic in its own column, in the metric's own units (an accuracy as a fraction)."""
    number = lambda x: "" if x is None else f"{x:.10g}"
    head = [figure, c["claim"], c["metric"], c["at"], " ".join(map(str, c["epochs"])), c["verdict"],
            decided(c["verdict"]), "no" if why_not_counted(c) else "yes", c.get("wide", {}).get("verdict", "")]
    rows = []
    for t in c.get("tests") or [{}]:
        groups = []
        for g in t.get("pair") or ["", ""]:
            stats = c["stats"].get(g) if g else None
            stats = stats if isinstance(stats, dict) else {}
            groups += [g, number(stats.get("mean")), number(stats.get("se")), stats.get("n", "")]
        ci = t.get("ci") or [None, None]
        rows.append(head + [t.get("test", ""), t.get("sides", "one-sided" if t.get("p") is not None else ""), *groups,
                            number(t.get("effect")), number(ci[0]), number(ci[1]), number(t.get("p")),
                            number(t.get("delta")), number(t.get("margin")), t.get("verdict", "")])
    return rows


def claims_table(rows, with_figure=False):
    """Markdown table of evaluated claims."""
    head = ("| figure " if with_figure else "") + ("| paper's claim | read at | measured (mean ± SE; difference [90% "
                                                  "interval], p of the test against δ) | verdict |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for figure, c in rows:
        at = {"last": "last epoch", "early": "first epoch ≥ 1", "mean": "mean over epochs", "": ""}.get(
            c["at"], f"epoch {c['at']}" if isinstance(c["at"], int) else str(c["at"]))
        if c["epochs"] and c["at"] in ("last", "early"):
            at = f"{at} ({', '.join(map(str, c['epochs']))})"
        why = why_not_counted(c)
        verdict = f"**{c['verdict']}**" + (f", {decided(c['verdict'])}" if decided(c["verdict"]) else "") + (
            f" ({why})" if why else "")
        if "wide" in c:
            verdict += f" (wide grid: {c['wide']['verdict']}; {c['wide']['measured']})"
        cells = [c["claim"], at or "—", c["measured"], verdict]
        lines.append(("| " + figure + " " if with_figure else "") +
                     "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def report(figure, preset, claims, summary):
    lines = [f"# {figure.name}: {figure.title}", "", f"**Paper.** {figure.paper}", "",
             f"**Preset:** `{preset.name}`. Wall-clock for this figure (runs not already done, "
             f"aggregation, plot): {summary['seconds']:.0f} s.", ""]
    where = summary.get("provenance")
    if where:
        lines += provenance_lines(where) + [""]
    if preset.name == "quick" and figure.kind == "runs":
        lines += ["The quick preset keeps the paper's nets and cuts the budget (analysis/reproduction/presets.py): a claim "
                  "that does not hold here may need the paper preset (100 epochs on 100,000 images, more seeds) "
                  "to show; one that holds here has shown early in training.", ""]
    if figure.notes:
        lines += [figure.notes(preset), ""]
    if "runs_per_group" in summary:
        counts = summary["runs_per_group"]
        if len(set(counts.values())) == 1 and len(counts) > TABLE_CURVES:
            lines.append(f"Runs per curve: {next(iter(counts.values()))} (each of the {len(counts)} curves).")
        elif len(counts) > TABLE_CURVES and where:
            lines.append("Runs per curve: as the table of seeds above says.")
        else:
            lines.append("Runs per curve: " + ", ".join(f"{g}: {n}" for g, n in counts.items()) + ".")
        settings = summary["settings"]
        if settings and settings["train"]:
            t = settings["train"]
            lines.append(f"Training (first run; the others differ as the curves say): {t['epochs']} epochs, "
                         f"Adam lr {t['lr']}, batch {t['batch_size']}, {t['dtype']}; data {t['data']}. "
                         f"Measurements: {settings['plan']}.")
        if summary["not_finished"]:
            lines += ["", "Runs not finished:"]
            alike = collections.defaultdict(list)        # runs stopped for one reason are counted, not listed
            for name, (state, message) in summary["not_finished"].items():
                alike[state, message].append(name)
            for (state, message), names in alike.items():
                lines += ([f"- `{name}`: {state} {message}" for name in names] if len(names) <= 3 else
                          [f"- {len(names)} runs, {state}: {message}"])
        lines.append("")
    images = [os.path.basename(p) for p in summary.get("figures", ["figure.png"])]
    lines += [f"![{image}]({image})" for image in images] + [""]
    if summary.get("tables"):
        lines += [summary["tables"], ""]
    lines += ["## Claims", "", claims_table([(figure.name, c) for c in claims]), ""]
    return "\n".join(lines)


def runs_per_net(seeds):
    """'3 runs' when every net has as many; else each net's count ('runs per net: Plain 5, Residual 3')."""
    if len(set(seeds.values())) <= 1:
        return f"{next(iter(seeds.values()), 0)} runs"
    return "runs per net: " + ", ".join(f"{label} {n}" for label, n in seeds.items())


def provenance_lines(where):
    """The report's account of a figure's provenance: partial or not, seeds per curve (a table when there are more
    than TABLE_CURVES curves), commit, machines."""
    seeds = where["seeds"]
    done = sum(len(s["done"]) for s in seeds.values())
    declared = sum(s["declared"] for s in seeds.values())
    if where["partial"]:
        head = (f"**Partial: {done} of the {declared} runs this figure declares are done**; its curves and verdicts "
                "use those alone. Seeds done per curve")
    else:
        head = "All runs done. Seeds per curve"
    table = len(seeds) > TABLE_CURVES
    lines = [head + (" in the table below." if table else ": " + "; ".join(
        f"{label} {len(s['done'])} of {s['declared']} ({seed_ranges(s['done'])})" for label, s in seeds.items()) + ".")]
    machines = where["training_seconds"]
    if machines:
        lines.append("Training and measurement time recorded by these runs: " + "; ".join(
            f"{time_split(times)} on {machine}" for machine, times in machines.items()) + ".")
    drawn = f"commit `{where['commit']}`" if where["commit"] else "code that is not a git checkout"
    lines.append(f"Drawn by {drawn}; each run records the commit and machine of each stretch that trained it.")
    out = [" ".join(lines)]
    if table:
        out += ["", "| curve | seeds done | of | which |", "|---|---|---|---|"]
        out += [f"| {label} | {len(s['done'])} | {s['declared']} | {seed_ranges(s['done'])} |"
                for label, s in seeds.items()]
    return out


TABLE_CURVES = 6


def time_split(times):
    """One machine's time: 'training X min + measuring Y min (Z% of training)' where the runs timed the two apart,
    the total and 'not recorded' where they did not (older runs; a bare number, the total, is an older
    numbers.json's), and both where some did."""
    if not isinstance(times, dict):
        times = {"total": float(times), "not_split": float(times)}
    total, training, measuring, not_split = (float(times.get(k, 0.0))
                                             for k in ("total", "training", "measuring", "not_split"))
    if not (training or measuring):
        return f"{total / 60:.1f} min (training and measuring apart: not recorded)"
    share = f" ({measuring / training:.0%} of training)" if training > 0 else ""
    text = f"training {training / 60:.1f} min + measuring {measuring / 60:.1f} min{share}"
    if not_split > 0:
        text += f", and {not_split / 60:.1f} min of older epochs that did not record the split"
    return text


def write_index(root, preset, notes=None, order=None):
    """<root>/CLAIMS.md: the claims table of every figure whose numbers.json exists, in `order`.

    order: the figure names in the order the index lists them (the caller's: cli.py passes analysis.figures'
    order, which this module, below the figures, does not import); None: the folders of <root>, sorted.
    A numbers.json that cannot be read (truncated, edited) is skipped, never fatal to the other figures:
    CLAIMS.md says so, and so does a line added to `notes` (a list) for the caller to show; the same
    command with that figure draws it again."""
    if order is None:
        order = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "numbers.json")))
    rows, times, skipped = [], [], []
    for name in order:
        path = os.path.join(root, name, "numbers.json")
        if os.path.exists(path):
            try:
                with open(path) as f:
                    summary = json.load(f)
                figure = [(f"[{name}]({name}/report.md)", c) for c in summary["claims"]]
                claims_table(figure, with_figure=True)          # every claim has the fields the table reads
                took = f"{name} {summary['seconds']:.0f} s"
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
                reason = f"{type(e).__name__}: {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
                skipped.append(f"{name}: its numbers.json cannot be read ({reason}), so its claims are left out; "
                               f"`reproduce {name}` with the same --preset and --out draws it again")
                continue
            rows += figure
            times.append(took)
    text = (f"# Claims checked (preset `{preset.name}`)\n\n" + claims_table(rows, with_figure=True) +
            "\n\nWall-clock of the last reproduction of each figure (runs reused from earlier figures cost nothing): "
            + ", ".join(times) + ".\n")
    if skipped:
        text += "\nLeft out:\n\n" + "".join(f"- {line}\n" for line in skipped)
    if notes is not None:
        notes.extend(skipped)
    path = os.path.join(root, "CLAIMS.md")
    write_text(path, text)
    return path
