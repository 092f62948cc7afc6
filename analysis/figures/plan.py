"""The sweep of the paper's protocol on the CPU: which cells, how many seeds, in which order.

Declared before its first run (docs/reproduction.md, "The CPU plan"), and never changed by
what its runs show. `reproduce plan --preset paper` carries the stages out in order; each
trains the first `seeds` seeds of the curves it names (the figure draws every run done),
and a stage begins its training only after the stages before it. The stopping rule is the
counts: 5 seeds per curve first, then 10, and no stage stops early, is extended or is
skipped because of a verdict. A verdict whose 90% interval does not settle it at a stage's
count reads *underpowered* (claims.decided) and waits for the next count.
"""
from dataclasses import dataclass

from . import fig5


@dataclass(frozen=True)
class Stage:
    """Train the first `seeds` seeds of a figure's curves (`curves`: their labels; None: all), then draw it."""
    figure: str
    seeds: int = None           # None: every seed the figure declares
    curves: tuple = None
    what: str = ""


def _fig5(data):
    return tuple(fig5.label(name, data) for name in fig5.nets(data))


PLAN = (
    Stage("fig3-readings", 5, None, "Fig 3 under scaled skips and SkipInit"),
    Stage("fig5", 5, _fig5("cifar100"), "Fig 5 on CIFAR-100"),
    Stage("fig5", 10, _fig5("cifar100"), "Fig 5 on CIFAR-100"),
    Stage("fig3", 10, None, "Fig 3 as stated"),
    Stage("fig3-readings", 10, None, "Fig 3 under scaled skips and SkipInit"),
    Stage("fig6", 5, None, "Fig 6 (Fig 5's CIFAR-100 runs and BiasReg+BN)"),
    Stage("fig6", 10, None, "Fig 6 (Fig 5's CIFAR-100 runs and BiasReg+BN)"),
    Stage("fig5", 5, _fig5("cifar10"), "Fig 5 on CIFAR-10"),
    Stage("fig5", 10, _fig5("cifar10"), "Fig 5 on CIFAR-10"),
)


def stages(names):
    """The stages that `reproduce NAMES` carries out: 'plan' is PLAN; a figure's name is every run it declares."""
    return [stage for name in names for stage in (PLAN if name == "plan" else (Stage(name),))]
