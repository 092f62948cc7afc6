"""`python cli.py bench`: the engine benchmark of issue 2 as a table and a JSON file."""
import click
from rich.console import Console
from rich.table import Table

from common.files import write_json
from minigrad import DeviceError, get_device


@click.command()
@click.option("--repeats", default=10, show_default=True, help="Timed repeats per workload (the median is reported).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--torch/--no-torch", "with_torch", default=True, show_default=True,
              help="Also time PyTorch eager on the same workloads, when it is installed.")
@click.option("--skip", "skips", multiple=True, type=click.Choice(["plain", "residual"]),
              default=("plain", "residual"), show_default=True, help="Networks to time.")
@click.option("--out", default="results/bench/engine.json", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the numbers (JSON).")
def bench(repeats, device, with_torch, skips, out):
    """Time W1 (Adam step, batch 500, fp32) and W2 (gradient and exact HVP, batch 1,024, fp64 and fp32)."""
    from benchmarks import engine
    try:
        get_device(device)
    except DeviceError as e:
        raise click.ClickException(str(e))
    if repeats < 1:
        raise click.BadParameter("must be at least 1", param_hint="--repeats")
    console = Console()
    with console.status("timing") as status:
        result = engine.run(repeats, skips, with_torch and device == "cpu", device,
                            progress=lambda what: status.update(f"timing {what}"))
    write_json(out, result)
    machine = result["machine"]
    table = Table(title=f"minigrad on {device} (median ms of {repeats}); NumPy GEMM "
                        f"{machine['gemm_gflops_fp32']:.0f} GFLOP/s fp32, {machine['gemm_gflops_fp64']:.0f} fp64")
    for column in ("net", "workload", "minigrad ms", "PyTorch ms", "minigrad / PyTorch", "HVP / gradient"):
        table.add_column(column, justify="left" if column in ("net", "workload") else "right")
    for row in engine.table_rows(result):
        table.add_row(row["net"], row["workload"], f"{row['ms']:.1f}", _fmt(row["torch_ms"], ".1f"),
                      _fmt(row["ratio"], ".2f"), _fmt(row["hvp_over_grad"], ".2f"))
    console.print(table)
    console.print(f"written to {out}")


def _fmt(value, spec):
    return "" if value is None else format(value, spec)
