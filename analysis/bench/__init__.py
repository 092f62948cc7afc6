"""Engine speed against PyTorch (`python cli.py bench --workload engine|ensemble|lanczos|all`).

    engine.py    W1 (an Adam step) and W2 (a gradient and an exact HVP)
    ensemble.py  W4: a training epoch of a seed ensemble against a single net's, and the GEMM floor
    lanczos.py   100 float64 Lanczos steps with full reorthogonalization on the paper's big net

Each module's `run` returns the JSON the CLI writes and its `tables(result, ...)` the tables it prints, as
(title, columns, rows) of strings: the CLI only draws them.
"""


def torch_reference(with_torch, timed):
    """What a bench table's title says of its PyTorch columns when they are blank: why, and how to fill them."""
    if timed:
        return ""
    if not with_torch:
        return "; PyTorch not timed (--no-torch)"
    return "; PyTorch is not installed (python -m pip install torch to time it too): minigrad alone"


def number(value, spec):
    """A table cell: `value` formatted by `spec`, blank for None."""
    return "" if value is None else format(value, spec)
