"""Fig S3: the paper's moment + mixture estimate (and SLQ, ours) against exact spectra, on the Fig S2 nets.

This is also the project's SLQ-versus-mixture validation on small nets: the same
operator, the same window, three estimates per net.
"""
from dataclasses import dataclass

import numpy

from ..reproduction import aggregate
from ..reproduction.claims import HELD, NO_DATA, NO_FIT, NOT_HELD, fits_ok, pair_test
from ..reproduction.spec import Figure, Scatter
from .figS2 import groups as s2_groups

EXACT = {"degenerate": "hessian/exact_degenerate", "negative": "hessian/exact_negative"}
MIXTURE = {"degenerate": "hessian/degeneracy", "negative": "hessian/negativity"}
SLQ = {"degenerate": "hessian/slq_degenerate", "negative": "hessian/slq_negative"}


def groups(preset):
    return {"S2 nets": s2_groups(preset)["Plain"]}


def _pairs(rows_by_group, estimate, exact):
    pairs = [(aggregate.value_at(r, exact, "last"), aggregate.value_at(r, estimate, "last"))
             for rows in rows_by_group.values() for r in rows]
    return numpy.array([p for p in pairs if None not in p], dtype=float).reshape(-1, 2)


@dataclass
class Bias:
    """The estimate minus the exact fraction, over nets: its sign (`sign` = +1 over-, -1 underestimates)."""
    text: str
    estimate: str
    exact: str
    sign: int

    def evaluate(self, rows_by_group):
        p = _pairs(rows_by_group, self.estimate, self.exact)
        stats = aggregate.mean_se(p[:, 1] - p[:, 0]) if len(p) else {"mean": None, "se": None, "n": 0}
        verdict = NO_DATA if stats["mean"] is None else _signed(self.sign * (p[:, 1] - p[:, 0]))
        if verdict != NO_DATA and not fits_ok(rows_by_group, self.estimate, "last"):
            verdict = NO_FIT
        measured = "n/a" if stats["mean"] is None else (
            f"estimate − exact = {stats['mean']:+.4f} ± {stats['se'] or float('nan'):.4f} (n={stats['n']}); "
            f"exact {p[:, 0].mean():.4f}, estimate {p[:, 1].mean():.4f}")
        return {"claim": self.text, "metric": f"{self.estimate} − {self.exact}", "at": "last", "epochs": [],
                "stats": stats, "measured": measured, "verdict": verdict}


@dataclass
class Linear:
    """Estimate and exact fraction are linearly related: Pearson r > 0 with p < 0.05."""
    text: str
    estimate: str
    exact: str

    def evaluate(self, rows_by_group):
        from scipy import stats as st
        p = _pairs(rows_by_group, self.estimate, self.exact)
        if len(p) < 3 or numpy.ptp(p[:, 0]) == 0 or numpy.ptp(p[:, 1]) == 0:
            measured = f"n={len(p)}; " + ("too few nets" if len(p) < 3 else "one of the two does not vary")
            return {"claim": self.text, "metric": self.estimate, "at": "last", "epochs": [], "stats": {},
                    "measured": measured, "verdict": NO_DATA if len(p) < 3 else NOT_HELD}
        r, pvalue = st.pearsonr(p[:, 0], p[:, 1])
        slope = numpy.polyfit(p[:, 0], p[:, 1], 1)[0]
        verdict = HELD if r > 0 and pvalue < 0.05 else NOT_HELD
        return {"claim": self.text, "metric": self.estimate, "at": "last", "epochs": [], "stats": {},
                "measured": f"r = {r:.3f}, p = {pvalue:.2g}, slope {slope:.3g} (n={len(p)})",
                "verdict": verdict if fits_ok(rows_by_group, self.estimate, "last") else NO_FIT}


@dataclass
class Closer:
    """(ours) SLQ's fractions are closer to the exact ones than the mixture's: mean |error| smaller."""
    text: str
    kind: str

    def evaluate(self, rows_by_group):
        slq = _pairs(rows_by_group, SLQ[self.kind], EXACT[self.kind])
        mix = _pairs(rows_by_group, MIXTURE[self.kind], EXACT[self.kind])
        if not len(slq) or not len(mix):
            return {"claim": self.text, "metric": "", "at": "last", "epochs": [], "stats": {}, "measured": "n/a",
                    "verdict": NO_DATA}
        e_slq, e_mix = numpy.abs(slq[:, 1] - slq[:, 0]), numpy.abs(mix[:, 1] - mix[:, 0])
        a, b = aggregate.mean_se(e_slq), aggregate.mean_se(e_mix)
        return {"claim": self.text, "metric": "", "at": "last", "epochs": [], "stats": {"slq": a, "mixture": b},
                "measured": f"mean absolute error: SLQ {a['mean']:.4f}, mixture {b['mean']:.4f} (n={a['n']}; "
                            "paired by net)",
                "verdict": _signed(e_mix - e_slq)}


def _signed(d):
    """The one rule on paired differences d (claimed: d > 0): held, not held or within error."""
    return pair_test(d, numpy.zeros_like(d), 0.0, paired=True)["verdict"]


def window_curves(kind):
    """A panel: the `kind` fraction ('degenerate' or 'negative') against the window, exact, SLQ and mixture, mean
    over nets at their last Hessian epoch: where the verdicts' one window (dotted) sits on each curve. The
    mixture's curve gets hollow grey "no fit" markers when some net's mixture fit misses its moments."""
    from analysis.spectra.window import WINDOW, WINDOWS

    def draw(ax, curves, rows_by_group, colors):
        from ..reproduction.figure_plots import mark_no_fit
        runs = [rows for group in rows_by_group.values() for rows in group]
        for method, style in (("exact", "k-"), ("slq", "C0--"), ("mixture", "C3-.")):
            found = [aggregate.value_at(rows, f"hessian/{method}_{kind}_curve", "last") for rows in runs]
            found = [f for f in found if f is not None]
            if found:
                ax.plot(WINDOWS, numpy.mean(found, axis=0), style, marker=".", label=f"{method} (n={len(found)})")
                if method == "mixture" and not fits_ok(rows_by_group, MIXTURE[kind], "last"):
                    mark_no_fit(ax, WINDOWS, numpy.mean(found, axis=0))
        ax.axvline(WINDOW, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("window w (degenerate: |λ| ≤ w)")
        ax.set_ylabel(f"{kind} fraction")
    draw.title = f"{kind} fraction against the window"
    return draw


CLAIMS = [
    Bias("The mixture overestimates the degenerate fraction (Fig S3)", MIXTURE["degenerate"], EXACT["degenerate"], +1),
    Bias("The mixture underestimates the negative fraction (Fig S3)", MIXTURE["negative"], EXACT["negative"], -1),
    Linear("Estimated and actual degenerate fractions are significantly, linearly related (Fig S3)",
           MIXTURE["degenerate"], EXACT["degenerate"]),
    Linear("Estimated and actual negative fractions are significantly, linearly related (Fig S3)",
           MIXTURE["negative"], EXACT["negative"]),
    Closer("(ours) SLQ estimates the degenerate fraction better than the mixture", "degenerate"),
    Closer("(ours) SLQ estimates the negative fraction better than the mixture", "negative"),
    Linear("(ours) SLQ and exact degenerate fractions are significantly, linearly related", SLQ["degenerate"],
           EXACT["degenerate"]),
]

FIGURE = Figure(
    "figS3", "Estimated vs actual degenerate and negative fractions (validation of the spectral method)",
    "On the Fig S2 networks, the moment + mixture estimate overestimates the degenerate fraction (about 95-100% "
    "estimated vs 85-100% actual) and underestimates the negative one (0-2% vs 0-4%), but the relation to the exact "
    "values is highly significant and linear.",
    groups, CLAIMS,
    [Scatter(EXACT["degenerate"], MIXTURE["degenerate"], "exact degenerate fraction", "mixture degeneracy index",
             title="degenerate: mixture"),
     Scatter(EXACT["negative"], MIXTURE["negative"], "exact negative fraction", "mixture negativity index",
             title="negative: mixture"),
     Scatter(EXACT["degenerate"], SLQ["degenerate"], "exact degenerate fraction", "SLQ degenerate fraction",
             title="degenerate: SLQ (ours)"),
     Scatter(EXACT["negative"], SLQ["negative"], "exact negative fraction", "SLQ negative fraction",
             title="negative: SLQ (ours)"),
     window_curves("degenerate"), window_curves("negative")],
    notes=lambda preset: ("The runs are Fig S2's (shared run folders). Mixture: Skilling moments from "
                          f"{preset.probes} Gaussian probes and the paper's 57⁴ grid (w ≤ 1e-3); SLQ: "
                          f"{preset.probes} Rademacher probes x {preset.slq_steps} Lanczos steps; both on the same "
                          f"{preset.exact_samples} examples as the exact spectrum."))
