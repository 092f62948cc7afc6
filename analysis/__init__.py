"""Hessian spectra (exact, the paper's moment fit, stochastic Lanczos) and singularity meters.

hessian     HessianOperator: H of the training objective on a fixed data subset, as a matvec
window      the one definition of degenerate and negative eigenvalues, shared by every method
exact       dense Hessian + eigvalsh (small nets)
moments     Skilling's moments + the paper's mixture fit (degeneracy and negativity indices)
lanczos     Lanczos in float64 with full reorthogonalization; Gauss quadrature
slq         stochastic Lanczos quadrature, smoothing
meters      singularity meters per layer: elimination, overlap, zero responses, dependence, gradients
validation  the Fig S3 analogue: the three spectral estimates against each other on small nets
"""
from .exact import exact_spectrum
from .hessian import HessianOperator
from .meters import all_meters
from .moments import moment_spectrum
from .slq import slq_spectrum
from .window import WINDOW, discrete_cdf, fractions
