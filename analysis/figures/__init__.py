"""Every figure of the paper, plus ours, in the order a reader meets them; `FIGURES[name]` is its definition.

`named_stages(text)` reads `reproduce FIGURE`: the stages (plan.py) it carries out.
"""
from . import activation, conv, fig3, fig4, fig5, fig6, fig7, fig8, figS1, figS2, figS3, figS6, figS7, toys

_ORDER = [toys.FIGURES[0], fig3.FIGURE, fig4.FIGURE, fig5.FIGURE, fig6.FIGURE, fig7.FIGURE, fig8.FIGURE,
          figS1.FIGURE, figS2.FIGURE, figS3.FIGURE, toys.FIGURES[1], toys.FIGURES[2], figS6.FIGURE,
          *figS7.FIGURES, conv.FIG3, conv.FIG5, activation.FIGURE]
from . import fidelity, readings  # noqa: E402  (both build on fig3, the grid on fig5 too)
from . import per_layer  # noqa: E402  (Fig 3's, fig3-readings' and Fig S1's runs)

FIGURES = {f.name: f for f in _ORDER + [readings.FIGURE, fidelity.FIGURE, per_layer.FIGURE]}


def named_stages(text):
    """The stages (plan.py) that `reproduce FIGURE` names: all (every figure whole), plan (the CPU plan's), or
    figures separated by commas; a ValueError of one sentence for a name that is none of them."""
    from .plan import stages
    if text == "all":
        return stages(FIGURES)
    unknown = [f for f in text.split(",") if f not in FIGURES and f != "plan"]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}; choose from: all, plan, {', '.join(FIGURES)}")
    return stages(text.split(","))
