"""`python cli.py toy ...`: the paper's toy models of singularities.

Each command writes PNG figures and a JSON file with the numbers behind them to
--out (default results/toys) and prints a short summary of what it measured.
"""
import time

import click
from rich.console import Console
from rich.table import Table

from toys import deep_linear, linear_modes, two_unit

DEFAULT_OUT = "results/toys"
console = Console()


def _fmt(x):
    if x is None:
        return "not reached"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _table(title, rows):
    table = Table(title=title, title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, _fmt(value))
    console.print(table)


def report_two_unit(s):
    skip = s["skip_comparison_exact"]
    _table("Two hidden units (Fig 2); 'learned' = loss below L*/2 = %.3g" % s["loss_learned"], [
        ("plateau height L* (best single unit)", s["best_single_unit"]["loss_L*"]),
        ("near-singularity, exact flow: time learned", s["near_singularity_exact"]["t_learned"]),
        ("  closest approach to h = 0 (h)", s["near_singularity_exact"]["closest_to_h0"]["h"]),
        ("on-singularity, exact flow: time learned", s["on_singularity_exact"]["t_learned"]),
        ("  final (h, z)", "(%.2g, %.3f)" % (s["on_singularity_exact"]["final_h"],
                                            s["on_singularity_exact"]["final_z"])),
        ("on-singularity, online SGD: crossed z = 1 at", s["on_singularity_sgd"]["t_crossed_z=1"]),
        ("  left the overlap line (h > 0.5) at", s["on_singularity_sgd"]["t_left_line"]),
        ("plain from blue dot: time learned", skip["plain_from_on_start"]["t_learned"]),
        ("skip from blue dot: time learned", skip["skip_from_on_start"]["t_learned"]),
        ("plain from h = 0.001: time learned", skip["plain_from_on_line"]["t_learned"]),
        ("skip from h = 0.001: time learned", skip["skip_from_on_line"]["t_learned"]),
    ])


def report_linear(s):
    r = s["results"]
    _table("Three-layer linear nets (Fig S4): iterations until both modes are within 10% of s", [
        ("(a) small init, plain", r["small_plain"]["iterations_to_90pct"]),
        ("(a) small init, residual", r["small_residual"]["iterations_to_90pct"]),
        ("(b) equal norms, plain", r["equal_norm_plain"]["iterations_to_90pct"]),
        ("(b) equal norms, plain, nudged by 1e-6", r["equal_norm_plain_nudged"]["iterations_to_90pct"]),
        ("(b) equal norms, residual", r["equal_norm_residual"]["iterations_to_90pct"]),
    ])


def report_deep_linear(s):
    rows = []
    for arch in deep_linear.ARCHITECTURES:
        rows.append((f"saddle, 2 layers, {arch}", ", ".join(
            "(%.3g, %.3g)" % tuple(p) for p in s["saddles_2_layer"][arch])))
    for arch in deep_linear.ARCHITECTURES:
        rows.append((f"10 layers, {arch}: time to 90% of s", s["time_to_90pct"][arch]))
    for arch in deep_linear.ARCHITECTURES:
        rows.append((f"10 layers, {arch}: largest stable lr at start", s["max_stable_lr_at_start"][arch]))
    _table("Deep linear single modes (Fig S5)", rows)


MODELS = {
    "two-unit": (two_unit.run, report_two_unit),
    "linear": (linear_modes.run, report_linear),
    "deep-linear": (deep_linear.run, report_deep_linear),
}


def _run(name, out, quick):
    runner, report = MODELS[name]
    start = time.perf_counter()
    summary = runner(out, quick=quick)
    report(summary)
    for path in summary["figures"]:
        console.print(f"  wrote {path}")
    console.print(f"  [dim]{name}: {time.perf_counter() - start:.1f} s[/dim]")
    return summary


def _options(f):
    f = click.option("--quick", is_flag=True, hidden=True,
                     help="Short runs on coarse grids (for tests).")(f)
    f = click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
                     help="Folder for the PNG figures and JSON numbers.")(f)
    return f


@click.group()
def toy():
    """Toy models of singularities (no data needed; seconds each)."""


@toy.command("two-unit")
@_options
def two_unit_cmd(out, quick):
    """Two hidden units: overlap/elimination plateaus (Fig 2) and a skip version."""
    _run("two-unit", out, quick)


@toy.command("linear")
@_options
def linear_cmd(out, quick):
    """Three-layer linear nets in the mode picture, plain vs residual (Fig S4)."""
    _run("linear", out, quick)


@toy.command("deep-linear")
@_options
def deep_linear_cmd(out, quick):
    """Deep linear single modes: saddles and plain/residual/hyper-residual speed (Fig S5)."""
    _run("deep-linear", out, quick)


@toy.command("all")
@_options
def all_cmd(out, quick):
    """All of the above."""
    for name in MODELS:
        _run(name, out, quick)
