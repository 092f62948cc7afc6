"""Figs 2, S4 and S5: the toy models (analysis/toys/), deterministic, so their claims are plain facts with no seeds."""
import math
import os

from ..reproduction.claims import Fact


def _t(x):
    return math.inf if x is None else x


def _fmt(x):
    return "never (within the simulated time)" if x is None else f"{x:.4g}"


class ToyFigure:
    """A figure made by one of the toy models' `run(out_dir, quick)`; `facts(summary)` lists its claims."""
    kind = "toy"

    def __init__(self, name, title, paper, runner, facts):
        self.name, self.title, self.paper, self.runner, self.facts = name, title, paper, runner, facts
        self.notes = None

    def run(self, preset, out):
        summary = self.runner(out, quick=preset.name == "test")
        summary["figures"] = [os.path.basename(path) for path in summary["figures"]]   # beside numbers.json
        return {"claims": [f.evaluate() for f in self.facts(summary)], "figures": summary["figures"], "toy": summary}


def fig2_facts(s):
    skip = s["skip_comparison_exact"]
    on, sgd = s["on_singularity_exact"], s["on_singularity_sgd"]
    out = [Fact("Started on the overlap singularity, exact gradient flow stays on it (the plateau never ends)",
                f"time learned: {_fmt(on['t_learned'])}; final h = {on['final_h']:.2g}", on["t_learned"] is None),
           Fact("Started on it, SGD noise eventually pushes the student off the overlap line",
                f"left the line (h > 0.5) at t = {_fmt(sgd['t_left_line'])}", sgd["t_left_line"] is not None),
           Fact("Near the singularity the flow is slowed by a plateau but escapes",
                f"time learned: {_fmt(s['near_singularity_exact']['t_learned'])}",
                s["near_singularity_exact"]["t_learned"] is not None)]
    for start, text in (("on_start", "the on-singularity start"), ("on_line", "h = 0.001")):
        plain, res = skip[f"plain_from_{start}"]["t_learned"], skip[f"skip_from_{start}"]["t_learned"]
        out.append(Fact(f"A skip connection removes the plateau: from {text} the skip net learns sooner than the plain",
                        f"time learned: plain {_fmt(plain)}, skip {_fmt(res)}", _t(res) < _t(plain)))
    return out


def s4_facts(s):
    r = s["results"]
    it = {k: v["iterations_to_90pct"] for k, v in r.items()}
    return [Fact("Small initialization: the residual linear net learns both modes sooner than the plain one (Fig S4a)",
                 f"iterations: plain {_fmt(it['small_plain'])}, residual {_fmt(it['small_residual'])}",
                 _t(it["small_residual"]) < _t(it["small_plain"])),
            Fact("Equal-norm start: the plain net is stuck on the singularity, the residual net is not (Fig S4b)",
                 f"iterations: plain {_fmt(it['equal_norm_plain'])}, residual {_fmt(it['equal_norm_residual'])}",
                 it["equal_norm_plain"] is None and it["equal_norm_residual"] is not None),
            Fact("A 1e-6 nudge lets the plain net leave, slowly (Fig S4b)",
                 f"iterations: nudged plain {_fmt(it['equal_norm_plain_nudged'])}, residual "
                 f"{_fmt(it['equal_norm_residual'])}",
                 it["equal_norm_plain_nudged"] is not None and _t(it["equal_norm_residual"]) < _t(it["equal_norm_plain_nudged"]))]


def s5_facts(s):
    t = s["time_to_90pct"]
    return [Fact("10-layer linear nets: hyper-residual converges fastest, then residual; plain slowest (Fig S5b)",
                 f"time to 90% of s: hyperres {_fmt(t['hyperres'])}, residual {_fmt(t['residual'])}, plain "
                 f"{_fmt(t['plain'])}", _t(t["hyperres"]) < _t(t["residual"]) < _t(t["plain"]))]


def _figures():
    from analysis.toys import deep_linear, linear_modes, two_unit
    return [
        ToyFigure("fig2", "Singularities slow learning in a two-hidden-unit toy model",
                  "Reduced dynamics of a two-unit student (Wei et al. 2008): on the overlap singularity the flow is "
                  "stuck; near it, a long plateau; a skip connection removes the plateau.", two_unit.run, fig2_facts),
        ToyFigure("figS4", "Three-layer linear networks in the mode picture",
                  "Plain vs residual linear nets (Supp. Note 5): with small or equal-norm initializations the plain "
                  "net is slowed or stuck by singularities that the residual net does not have.",
                  linear_modes.run, s4_facts),
        ToyFigure("figS5", "Deep linear single modes",
                  "10-layer linear single-mode nets: hyper-residual converges fastest, then residual; plain has not "
                  "converged within the window.", deep_linear.run, s5_facts),
    ]


FIGURES = _figures()
