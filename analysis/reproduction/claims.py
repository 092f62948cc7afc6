"""Claims as checks on aggregated numbers, under one declared statistical rule.

Each claim reads one value per run (aggregate.value_at). The rule, fixed here before the
verdicts it produces were seen:

* Every test is one-sided at level ALPHA = 0.05, on the runs' values (n per group).
* "A > B" (`Order`, each neighbouring pair of a chain): Welch's t-test of the difference of
  means against the claim's minimum effect δ (MIN_EFFECT by metric, else 0), or a paired
  t-test over seeds when the claim declares `paired` (nets of one seed that share their
  initial weights and minibatch order). held: difference > δ is significant; not held:
  difference < δ is significant (reversed, or smaller than δ); otherwise within error.
  A chain is held when every pair is, not held when some pair is.
* "A ≈ B" (`Similar`): two one-sided tests (TOST) against the margin m (MARGIN by metric,
  else 10% of the larger |mean|). held: the difference is significantly inside ±m; not
  held: it is significantly outside; otherwise within error.
* Trends (`Trend`): Spearman's rank correlation between a number per group (β, say) and the
  runs' values, over all runs; held when its sign is the claimed one, significantly; not
  held when significantly the other; otherwise within error.
* Ranges (`Range`): held when every group's mean lies in [low, high], else not held.
* Claims true by construction (`by_construction`) and claims that repeat another on the same
  runs (`repeats`) are evaluated and shown, but left out of the counts.
* At chance: a claim on nets none of which learned anything says nothing of the paper. When
  every group it compares ends (train accuracy at its last epoch, mean over runs) within
  CHANCE_MARGIN of chance (one over the data's classes), it reads **not informative** and is
  not counted, whatever its test gives (`judge`).

Verdicts:
  held / within error / not held   as above (held and not held are *decided*, within error is
                *underpowered*: `decided`); each ordered or ≈ claim prints its effect
                (difference of means), the two-sided 90% interval matching the one-sided
                5% tests, and the p-value of the claimed direction
  not informative  every group it compares ends at chance (above); the test's numbers are shown
  no data       a group has no value (a run failed or the metric was not measured)
  no fit        the claim reads the paper's mixture fit (its indices or parameters) and
                some run's fit does not represent its moments (the declared rule of
                analysis/spectra/mixture_fit.py: relative moment error above FIT_ERROR_MAX, or
                a parameter on an end of its grid); the numbers are shown, not judged

A claim on the mixture fit is also evaluated on the same moments fitted on the declared
wide grid (moments.wide_grids), and both verdicts are reported.
"""
import dataclasses
import math
from dataclasses import dataclass

import numpy
from scipy import stats as st

from . import aggregate

HELD, WITHIN, NOT_HELD, NO_DATA, NO_FIT = "held", "within error", "not held", "no data", "no fit"
NOT_INFORMATIVE = "not informative"
MIXTURE = ("degeneracy", "negativity", "w", "xi", "omega", "alpha")     # what a claim reads from the mixture fit

ALPHA = 0.05
MIN_EFFECT = {"train_acc": 0.01, "test_acc": 0.01, "train_loss": 0.01, "test_loss": 0.01}   # 1 point; 0.01 nats
MARGIN = {"train_acc": 0.02, "test_acc": 0.02, "train_loss": 0.02, "test_loss": 0.02}       # 2 points; 0.02 nats
RELATIVE_MARGIN = 0.1         # "≈" on any other metric: within 10% of the larger |mean|
CHANCE_MARGIN = 0.02          # 2 points of accuracy above chance: a net that ends below has learned nothing to compare
NEGLIGIBLE_SE = 1e-7          # an SE below this fraction of |mean| is rounding, printed "± 0"


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
    if se is not None and se < NEGLIGIBLE_SE * abs(mean):
        return (f"{mean:.2f}" if percent else f"{mean:.7g}") + f" ± 0 (n={stats['n']})"
    if se is None or se == 0:
        text = f"{mean:.2f}" if percent else f"{mean:.4g}"
        return text + (" ± 0" if se == 0 else "") + f" (n={stats['n']})"
    decimals = min(10, max(2 if percent else 0, 1 - math.floor(math.log10(se))))
    return f"{mean:.{decimals}f} ± {se:.{decimals}f} (n={stats['n']})"


def difference(a, b, paired=False):
    """The difference of means of two samples: (effect, its SE, degrees of freedom); SE None when it cannot be had.

    Welch's SE and Welch–Satterthwaite degrees of freedom, or, paired, those of the n differences."""
    a, b = numpy.asarray(a, dtype=float), numpy.asarray(b, dtype=float)
    effect = float(a.mean() - b.mean())
    if paired and len(a) == len(b):
        d = a - b
        return effect, (float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else None), len(d) - 1
    if len(a) < 2 or len(b) < 2:
        return effect, None, 0
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb > 0 else len(a) + len(b) - 2
    return effect, se, df


def p_above(effect, se, df, bound):
    """One-sided p-value of 'the true difference exceeds `bound`' (0 or 1 when the SE is 0: no noise to test)."""
    if se == 0:
        return 0.0 if effect > bound else 1.0
    return float(st.t.sf((effect - bound) / se, df))


def pair_test(a, b, delta, paired):
    """One claimed pair 'a > b by more than delta' under the rule: {'effect', 'ci', 'p', 'verdict'}.

    A one-sample test of differences d > 0 is pair_test(d, zeros, 0.0, paired=True). 'test' names it (paired or
    Welch t), 'delta' is δ."""
    effect, se, df = difference(a, b, paired)
    named = {"test": "paired" if paired and len(a) == len(b) else "Welch", "delta": delta}
    if se is None:
        return {"effect": effect, "ci": None, "p": None, "verdict": WITHIN, **named}
    half = st.t.ppf(1 - ALPHA, df) * se if se > 0 else 0.0
    p_held, p_not = p_above(effect, se, df, delta), p_above(-effect, se, df, -delta)
    verdict = HELD if p_held < ALPHA else NOT_HELD if p_not < ALPHA else WITHIN
    return {"effect": effect, "ci": [effect - half, effect + half], "p": p_held, "verdict": verdict, **named}


def _describe(test, percent):
    """'A − B = effect [90% interval], p = … (test, δ = …)' of one test, in the claim's units: the p-value is of
    'the difference exceeds δ' (Welch or paired), or of 'it lies inside ±margin' (TOST)."""
    if "text" in test:
        return test["text"]
    scale = 100.0 if percent else 1.0
    text = f"{test['pair'][0]} − {test['pair'][1]} = {test['effect'] * scale:.3g}"
    if test["ci"] is not None:
        text += f" [{test['ci'][0] * scale:.3g}, {test['ci'][1] * scale:.3g}]"
    if "margin" in test:
        text += f", margin ±{test['margin'] * scale:.3g}"
    if test["p"] is not None:
        text += f", p = {test['p']:.2g}"
        text += f" ({test['test']}, δ = {test['delta'] * scale:.3g})" if "delta" in test else f" ({test['test']})"
    return text


def _chain(verdicts):
    return NOT_HELD if NOT_HELD in verdicts else HELD if all(v == HELD for v in verdicts) else WITHIN


@dataclass
class Order:
    """'<groups[0]> > <groups[1]> > ...' on `metric` read at `at` (see aggregate.value_at)."""
    text: str                 # the paper's statement
    metric: str
    groups: tuple             # claimed order, largest first
    at: object = "last"
    percent: bool = False
    paired: bool = False      # the groups' runs are the same seeds of nets that share initial weights
    min_effect: float = None  # None: MIN_EFFECT of the metric, else 0
    by_construction: bool = False
    repeats: str = None       # the claim this one repeats on the very same runs (shown, not counted)

    def values(self, rows_by_group):
        return {g: [aggregate.value_at(rows, self.metric, self.at) for rows in rows_by_group.get(g, [])]
                for g in self.groups}

    def evaluate(self, rows_by_group):
        values = {g: [v for v in vs if v is not None and math.isfinite(v)]
                  for g, vs in self.values(rows_by_group).items()}
        stats = {g: aggregate.mean_se(v) for g, v in values.items()}
        epochs = {aggregate.epoch_of(rows, self.metric, self.at)
                  for g in self.groups for rows in rows_by_group.get(g, [])} - {None}
        measured = "; ".join(f"{g} {format_stats(stats[g], self.percent)}" for g in self.groups)
        if any(not v for v in values.values()):
            verdict, tests = NO_DATA, []
        else:
            verdict, tests = self.judge(values)
            if tests:
                measured += "; " + "; ".join(_describe(t, self.percent) for t in tests)
            if not fits_ok(rows_by_group, self.metric, self.at, self.groups):
                verdict = NO_FIT
        out = {"claim": self.text, "metric": self.metric, "at": self.at, "epochs": sorted(epochs),
               "stats": stats, "tests": tests, "measured": measured, "verdict": verdict}
        if self.by_construction:
            out["by_construction"] = True
        if self.repeats:
            out["repeats"] = self.repeats
        if _fit_flag(self.metric) == "hessian/fit_ok":      # the paper's grid: report the declared wide grid too
            twin = dataclasses.replace(self, metric="hessian/wide/" + self.metric[len("hessian/"):]).evaluate(
                rows_by_group)
            out["wide"] = {k: twin[k] for k in ("metric", "stats", "measured", "verdict")}
        return out

    def delta(self):
        return MIN_EFFECT.get(self.metric, 0.0) if self.min_effect is None else self.min_effect

    def judge(self, values):
        """(verdict, per-pair tests) from each group's values."""
        tests = [dict(pair_test(values[a], values[b], self.delta(), self.paired), pair=[a, b])
                 for a, b in zip(self.groups, self.groups[1:])]
        return _chain([t["verdict"] for t in tests]), tests


@dataclass
class Similar(Order):
    """'groups[0] ≈ groups[1]': equivalence within the margin, by two one-sided tests."""
    margin: float = None      # None: MARGIN of the metric, else RELATIVE_MARGIN of the larger |mean|

    def judge(self, values):
        a, b = (values[g] for g in self.groups)
        margin = self.margin if self.margin is not None else MARGIN.get(
            self.metric, RELATIVE_MARGIN * max(abs(numpy.mean(a)), abs(numpy.mean(b))))
        effect, se, df = difference(a, b, self.paired)
        test = {"pair": list(self.groups), "effect": effect, "margin": margin, "ci": None, "p": None, "test": "TOST"}
        if se is None:
            return WITHIN, [test]
        half = st.t.ppf(1 - ALPHA, df) * se if se > 0 else 0.0
        inside = max(p_above(effect, se, df, -margin), p_above(-effect, se, df, -margin))   # TOST
        outside = min(p_above(effect, se, df, margin), p_above(-effect, se, df, margin))
        test.update(ci=[effect - half, effect + half], p=inside)
        return (HELD if inside < ALPHA else NOT_HELD if outside < ALPHA else WITHIN), [test]


@dataclass
class Trend(Order):
    """The runs' values fall (sign -1) or rise (+1) with a number per group, `x`: Spearman's ρ over all runs."""
    x: tuple = ()
    sign: int = -1

    def judge(self, values):
        xs = [x for g, x in zip(self.groups, self.x) for _ in values[g]]
        ys = [v for g in self.groups for v in values[g]]
        if len(set(xs)) < 2 or len(set(ys)) < 2:
            return WITHIN, []
        rho, p_two = st.spearmanr(xs, ys)
        p_claimed = p_two / 2 if rho * self.sign > 0 else 1 - p_two / 2
        p_other = p_two / 2 if rho * self.sign < 0 else 1 - p_two / 2
        test = {"effect": float(rho), "ci": None, "p": float(p_claimed), "test": "Spearman",
                "text": f"Spearman ρ = {rho:.3f} over {len(ys)} runs, p = {p_claimed:.2g} (one-sided)"}
        return (HELD if p_claimed < ALPHA else NOT_HELD if p_other < ALPHA else WITHIN), [test]


@dataclass
class Range(Order):
    """Every group's mean lies in [low, high] (e.g. no vanishing or exploding gradient ratio)."""
    low: float = 0.0
    high: float = 1.0

    def judge(self, values):
        return (HELD if all(self.low <= numpy.mean(v) <= self.high for v in values.values()) else NOT_HELD), []


@dataclass
class Fact:
    """A claim checked by a figure's own code (toy models: deterministic, no seeds)."""
    text: str
    measured: str
    held: bool

    def evaluate(self, _=None):
        return {"claim": self.text, "metric": "", "at": "", "epochs": [], "stats": {}, "measured": self.measured,
                "verdict": HELD if self.held else NOT_HELD}


def decided(verdict):
    """'decided' when a verdict settles its claim (held or not held: the 90% interval lies on one side of the
    minimum effect, or inside or outside the margin), 'underpowered' when it does not (within error), else ''."""
    return "decided" if verdict in (HELD, NOT_HELD) else "underpowered" if verdict == WITHIN else ""


def power(n, sd, excess, paired=True):
    """The chance that the rule's one-sided test at ALPHA holds a claim whose true difference exceeds its minimum
    effect by `excess`, with n seeds per group whose values (paired: whose differences) spread with SD `sd`.

    Unpaired, Welch's test is approximated by the equal-variance one (2n − 2 degrees of freedom)."""
    se, df = (sd / math.sqrt(n), n - 1) if paired else (sd * math.sqrt(2 / n), 2 * n - 2)
    return float(st.nct.sf(st.t.ppf(1 - ALPHA, df), df, excess / se))


def counted(claims):
    """The evaluated claims that count: all but those true by construction, those repeating another on the same
    runs, and those not informative (every net compared at chance)."""
    return [c for c in claims if not (c.get("by_construction") or c.get("repeats")
                                      or c["verdict"] == NOT_INFORMATIVE)]


def why_not_counted(claim):
    """Why an evaluated claim is left out of the counts ('' when it counts)."""
    if claim.get("by_construction"):
        return "by construction: not counted"
    if claim.get("repeats"):
        return f"the same runs as {claim['repeats']}: not counted"
    return claim.get("at_chance", "")


def judge(claim, rows_by_group, chance):
    """Evaluate `claim`, then apply the chance rule: `chance` is {group: chance accuracy} (one over the classes of
    its runs' data; a group missing is not judged). A claim whose every group ends within CHANCE_MARGIN of its
    chance reads NOT_INFORMATIVE; the verdict its test gave stays in 'tested'."""
    out = claim.evaluate(rows_by_group)
    groups = [g for g in getattr(claim, "groups", ()) if rows_by_group.get(g)]
    if not groups or len(groups) < len(getattr(claim, "groups", ())) or any(g not in chance for g in groups):
        return out
    ends = {g: aggregate.mean_se([aggregate.value_at(rows, "train_acc", "last") for rows in rows_by_group[g]])["mean"]
            for g in groups}
    if all(end is not None and end <= chance[g] + CHANCE_MARGIN for g, end in ends.items()):
        levels = sorted({chance[g] for g in groups})
        out["at_chance"] = ("not counted: every net ends at chance (" + ", ".join(
            f"{g} {100 * e:.1f}%" for g, e in ends.items()) + "; chance " + ", ".join(f"{100 * c:.3g}%" for c in levels)
                            + f", margin {100 * CHANCE_MARGIN:.0f} points)")
        out["tested"], out["verdict"] = out["verdict"], NOT_INFORMATIVE
    return out


# ----------------------------------------------------------------------------- claims about the course of training

def _series(rows, metric):
    """{epoch >= 1: value} of one run's metric."""
    return {r["epoch"]: r[metric] for r in rows if r.get(metric) is not None and r["epoch"] >= 1}


@dataclass
class Narrows:
    """The gap groups[0] − groups[1] on `metric` is larger at `early` than at `late` (paired by seed): the curves
    are furthest apart early and close, or cross, later."""
    text: str
    metric: str
    groups: tuple
    early: object = "early"
    late: object = "last"

    def evaluate(self, rows_by_group):
        a, b = (rows_by_group.get(g, []) for g in self.groups)
        gaps = [[aggregate.value_at(x, self.metric, at) - aggregate.value_at(y, self.metric, at)
                 for at in (self.early, self.late)] for x, y in zip(a, b)
                if None not in [aggregate.value_at(r, self.metric, at) for r in (x, y) for at in (self.early, self.late)]]
        out = {"claim": self.text, "metric": self.metric, "at": f"{self.early} vs {self.late}", "epochs": [],
               "stats": {}, "tests": []}
        if len(gaps) < 2:
            out.update(measured="too few paired runs", verdict=NO_DATA)
        else:
            d = numpy.array([early - late for early, late in gaps])
            test = dict(pair_test(d, numpy.zeros_like(d), 0.0, True), pair=["gap early", "gap late"])
            verdict = test["verdict"] if fits_ok(rows_by_group, self.metric, self.late, self.groups) else NO_FIT
            measured = (f"gap {self.groups[0]} − {self.groups[1]}: early {numpy.mean([g[0] for g in gaps]):.3g}, "
                        f"late {numpy.mean([g[1] for g in gaps]):.3g} (n={len(gaps)}); " + _describe(test, False))
            out.update(tests=[test], measured=measured, verdict=verdict)
        if _fit_flag(self.metric) == "hessian/fit_ok":      # the paper's grid: report the declared wide grid too
            twin = dataclasses.replace(self, metric="hessian/wide/" + self.metric[len("hessian/"):]).evaluate(
                rows_by_group)
            out["wide"] = {k: twin[k] for k in ("metric", "stats", "measured", "verdict")}
        return out


@dataclass
class SeparatesFirst:
    """groups[0] > groups[1] becomes significant (the one rule, per epoch) on `first` at an earlier epoch than on
    `then`; `signs` flips a metric whose claimed difference is groups[1] > groups[0]."""
    text: str
    first: str
    then: str
    groups: tuple
    signs: tuple = (1, 1)

    def evaluate(self, rows_by_group):
        found = {}
        for metric, sign in ((self.first, self.signs[0]), (self.then, self.signs[1])):
            groups = self.groups if sign > 0 else self.groups[::-1]
            series = [[_series(rows, metric) for rows in rows_by_group.get(g, [])] for g in groups]
            epochs = sorted(set.intersection(*[set(s) for runs in series for s in runs])) if all(series) else []
            found[metric] = next((e for e in epochs if pair_test([s[e] for s in series[0]], [s[e] for s in series[1]],
                                                             0.0, False)["verdict"] == HELD), None)
        a, b = found[self.first], found[self.then]
        if not any(rows_by_group.get(g) for g in self.groups):
            verdict = NO_DATA
        elif a is not None and (b is None or a < b):
            verdict = HELD
        elif b is not None and (a is None or b < a):
            verdict = NOT_HELD
        else:
            verdict = WITHIN
        measured = "; ".join(f"{m}: first significant at epoch {e}" if e is not None else f"{m}: never significant"
                             for m, e in found.items())
        return {"claim": self.text, "metric": f"{self.first}, {self.then}", "at": "each epoch", "epochs": [],
                "stats": {}, "tests": [], "measured": measured, "verdict": verdict}


@dataclass
class Tracks:
    """`metric` moves with `other` over training: per run, Spearman's ρ across its epochs; the runs' mean ρ
    differs from 0 (one-sample t-test, two-sided at 2·ALPHA: the paper gives no sign)."""
    text: str
    metric: str
    other: str
    groups: tuple

    def evaluate(self, rows_by_group):
        rhos = []
        for g in self.groups:
            for rows in rows_by_group.get(g, []):
                x, y = _series(rows, self.metric), _series(rows, self.other)
                epochs = sorted(set(x) & set(y))
                if len(epochs) >= 3 and len({x[e] for e in epochs}) > 1 and len({y[e] for e in epochs}) > 1:
                    rhos.append(st.spearmanr([x[e] for e in epochs], [y[e] for e in epochs])[0])
        out = {"claim": self.text, "metric": f"{self.metric} ~ {self.other}", "at": "over epochs", "epochs": [],
               "stats": aggregate.mean_se(rhos), "tests": []}
        if len(rhos) < 2:
            return dict(out, measured="too few runs with 3 or more common epochs", verdict=NO_DATA)
        rhos = numpy.array(rhos)
        effect, se, df = difference(rhos, numpy.zeros_like(rhos), paired=True)
        p = 2 * min(p_above(effect, se, df, 0.0), p_above(-effect, se, df, 0.0))
        verdict = HELD if p < 2 * ALPHA else WITHIN
        test = {"effect": effect, "ci": None, "p": p, "test": "t on per-run Spearman ρ", "sides": "two-sided"}
        return dict(out, tests=[test], verdict=verdict,
                    measured=f"mean per-run Spearman ρ = {effect:.3f} ± {se:.3f} (n={len(rhos)}), p = {p:.2g} (two-sided)")
