"""Claims as checks on aggregated numbers.

Each claim reads one value per run (aggregate.value_at), takes the mean and the
standard error per group, and says one of:

  held          the ordering holds and every gap exceeds its standard error,
                sqrt(SE_a² + SE_b²) (the SE of the difference of two means)
  within error  the means are in the claimed order but some gap is within that SE
  not held      some pair of means is in the opposite order
  no data       a group has no value (a run failed or the metric was not measured)

  no fit        the claim reads the paper's mixture fit (its indices or parameters) and
                some run's fit does not represent its moments (the declared rule of
                analysis/spectra/moments.py: relative moment error above FIT_ERROR_MAX, or
                a parameter on an end of its grid); the numbers are shown, not judged

`Similar` (the paper's "≈") holds when the difference is within 2 SE of itself;
`Range` when every group's mean lies in a stated interval. A claim on the mixture fit
is also evaluated on the same moments fitted on the declared wide grid
(moments.wide_grids), and both verdicts are reported.
Two-sided statistics with so few seeds are rough; the table shows the numbers
so the reader can judge, and the verdict never hides them.
"""
import dataclasses
import math
from dataclasses import dataclass

from . import aggregate

HELD, WITHIN, NOT_HELD, NO_DATA, NO_FIT = "held", "within error", "not held", "no data", "no fit"
MIXTURE = ("degeneracy", "negativity", "w", "xi", "omega", "alpha")     # what a claim reads from the mixture fit


def fits_ok(rows_by_group, metric, at, groups=None):
    """False when `metric` comes from the mixture fit and a fit it is read from does not represent its moments."""
    flag = _fit_flag(metric)
    return flag is None or all(row.get(flag) == 1.0 for g in (groups or rows_by_group)
                               for rows in rows_by_group.get(g, []) for row in aggregate.rows_read(rows, metric, at))


def _fit_flag(metric):
    """The row key saying whether the fit behind `metric` represents its moments; None when no fit is behind it."""
    for prefix in ("hessian/wide/", "hessian/"):
        if metric.startswith(prefix) and metric[len(prefix):] in MIXTURE:
            return prefix + "fit_ok"
    return None


def format_stats(stats, percent=False):
    """'mean ± SE (n=…)', the mean to the SE's second significant digit (so close means stay distinguishable)."""
    if stats["mean"] is None:
        return "n/a"
    scale = 100.0 if percent else 1.0
    mean, se = stats["mean"] * scale, None if stats["se"] is None else stats["se"] * scale
    if se is None or se == 0:
        text = f"{mean:.2f}" if percent else f"{mean:.4g}"
        return text + (" ± 0" if se == 0 else "") + f" (n={stats['n']})"
    decimals = min(10, max(2 if percent else 0, 1 - math.floor(math.log10(se))))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f} (n={stats['n']})"


@dataclass
class Order:
    """'<groups[0]> > <groups[1]> > ...' on `metric` read at `at` (see aggregate.value_at)."""
    text: str                 # the paper's statement
    metric: str
    groups: tuple             # claimed order, largest first
    at: object = "last"
    percent: bool = False

    def values(self, rows_by_group):
        return {g: [aggregate.value_at(rows, self.metric, self.at) for rows in rows_by_group.get(g, [])]
                for g in self.groups}

    def evaluate(self, rows_by_group):
        stats = {g: aggregate.mean_se(v) for g, v in self.values(rows_by_group).items()}
        epochs = {aggregate.epoch_of(rows, self.metric, self.at)
                  for g in self.groups for rows in rows_by_group.get(g, [])} - {None}
        verdict = self.verdict([stats[g] for g in self.groups])
        flag = _fit_flag(self.metric)
        if verdict != NO_DATA and not fits_ok(rows_by_group, self.metric, self.at, self.groups):
            verdict = NO_FIT
        measured = "; ".join(f"{g} {format_stats(stats[g], self.percent)}" for g in self.groups)
        out = {"claim": self.text, "metric": self.metric, "at": self.at, "epochs": sorted(epochs),
               "stats": stats, "measured": measured, "verdict": verdict}
        if flag == "hessian/fit_ok":          # the paper's grid: report the declared wide grid too
            wide = dataclasses.replace(self, metric="hessian/wide/" + self.metric[len("hessian/"):])
            twin = wide.evaluate(rows_by_group)
            out["wide"] = {k: twin[k] for k in ("metric", "stats", "measured", "verdict")}
        return out

    def verdict(self, stats):
        if any(s["mean"] is None for s in stats):
            return NO_DATA
        within = False
        for a, b in zip(stats, stats[1:]):
            gap = a["mean"] - b["mean"]
            if gap <= 0:
                return NOT_HELD
            se = _se_diff(a, b)
            if se is None or gap <= se:
                within = True
        return WITHIN if within else HELD


@dataclass
class Similar(Order):
    """'groups[0] ≈ groups[1]': held when |difference| <= 2 SE of the difference."""

    def verdict(self, stats):
        a, b = stats
        if a["mean"] is None or b["mean"] is None:
            return NO_DATA
        se = _se_diff(a, b)
        if se is None:
            return WITHIN
        return HELD if abs(a["mean"] - b["mean"]) <= 2 * se else NOT_HELD


@dataclass
class Range(Order):
    """Every group's mean lies in [low, high] (e.g. no vanishing or exploding gradient ratio)."""
    low: float = 0.0
    high: float = 1.0

    def verdict(self, stats):
        if any(s["mean"] is None for s in stats):
            return NO_DATA
        return HELD if all(self.low <= s["mean"] <= self.high for s in stats) else NOT_HELD


def _se_diff(a, b):
    if a["se"] is None or b["se"] is None:
        return None
    return math.sqrt(a["se"] ** 2 + b["se"] ** 2)


@dataclass
class Fact:
    """A claim checked by a figure's own code (toy models: deterministic, no seeds)."""
    text: str
    measured: str
    held: bool

    def evaluate(self, _=None):
        return {"claim": self.text, "metric": "", "at": "", "epochs": [], "stats": {}, "measured": self.measured,
                "verdict": HELD if self.held else NOT_HELD}
