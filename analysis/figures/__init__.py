"""Every figure of the paper, plus ours, in the order a reader meets them; `FIGURES[name]` is its definition."""
from . import activation, conv, fig3, fig4, fig5, fig6, fig7, fig8, figS1, figS2, figS3, figS6, figS7, toys

_ORDER = [toys.FIGURES[0], fig3.FIGURE, fig4.FIGURE, fig5.FIGURE, fig6.FIGURE, fig7.FIGURE, fig8.FIGURE,
          figS1.FIGURE, figS2.FIGURE, figS3.FIGURE, toys.FIGURES[1], toys.FIGURES[2], figS6.FIGURE,
          *figS7.FIGURES, conv.FIG3, conv.FIG5, activation.FIGURE]
from . import fidelity, readings  # noqa: E402  (both build on fig3, the grid on fig5 too)

FIGURES = {f.name: f for f in _ORDER + [readings.FIGURE, fidelity.FIGURE]}
