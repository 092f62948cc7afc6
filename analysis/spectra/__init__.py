"""Hessian spectra of the training objective: one operator, one window, three estimates.

hessian   HessianOperator: H of the training objective on a fixed data subset, as a matvec
window    the one definition of degenerate and negative eigenvalues, shared by every method
exact     dense Hessian + eigvalsh (small nets)
moments   Skilling's moments + the paper's mixture fit (degeneracy and negativity indices)
lanczos   Lanczos in float64 with full reorthogonalization; Gauss quadrature
slq       stochastic Lanczos quadrature (computing tridiagonals), then smoothing (approximating)
blocks    per-layer spectra: diagonal blocks of H as operators, batched block products, the leakage
estimate  one spectrum by its method's name, as `spectrum` writes it, and its cost told first
"""
from .blocks import BlockOperator, layer_blocks, per_layer_spectra
from .exact import LIMIT, exact_spectrum
from .hessian import HessianOperator
from .moments import moment_spectrum
from .slq import slq_spectrum
from .window import WINDOW, discrete_cdf, fractions
