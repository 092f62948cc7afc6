"""Hessian spectra of the training objective: one operator, one window, three estimates, one smoothing.

hessian      HessianOperator: H of the training objective on a fixed data subset, as a matvec
window       the one definition of degenerate and negative eigenvalues, shared by every method
exact        dense Hessian + eigvalsh (small nets)
moments      Skilling's moments (two products per probe) and the moment method end to end
mixture_fit  the paper's skew-normal + narrow-Gaussian mixture, grid-fitted to four moments
lanczos      Lanczos in float64 with full reorthogonalization; Gauss quadrature
slq          stochastic Lanczos quadrature: the probes' tridiagonals and quadratures
density      every smoothing of a computed spectrum (fractions, density curves); no Hessian product
blocks       per-layer spectra: diagonal blocks of H as operators, batched block products, the leakage
estimate     one spectrum by its method's name, as `spectrum` writes it, and its cost told first

The methods' choices and their measured accuracy: docs/spectra.md.
"""
from .blocks import BlockOperator, layer_blocks, per_layer_spectra
from .density import density_of
from .exact import LIMIT, exact_spectrum
from .hessian import HessianOperator
from .moments import moment_spectrum
from .slq import slq_spectrum
from .window import WINDOW, discrete_cdf, fractions
