"""The Lanczos iteration for a symmetric operator, in float64, with full reorthogonalization.

Given a symmetric A (only through v -> A v) and a start vector q_1 of unit norm,
Lanczos builds an orthonormal basis q_1 .. q_m of the Krylov space
span{q_1, A q_1, .., A^(m-1) q_1} in which A is tridiagonal:

    A q_j = β_{j-1} q_{j-1} + α_j q_j + β_j q_{j+1},        T = tridiag(β, α, β)  (m x m)

The eigenvalues of T (Ritz values) approximate those of A, the extreme ones
first; with q_1 = r/|r| they are also the nodes of the m-point Gauss quadrature
of the spectral measure μ_r = Σ_i (u_iᵀ q_1)² δ(λ_i), whose weights are the
squared first components of T's eigenvectors. That is what stochastic Lanczos
quadrature (analysis/spectra/slq.py) averages over random r.

Choices:

* float64 throughout: the basis, α and β are float64 even when the operator
  multiplies in float32 (its products come back as float64 and are cast here
  again, for any other matvec). Google's JAX Lanczos ran in float32; its own TODOs
  ask for higher precision.
* Full reorthogonalization (default): after the three-term step, w is projected
  off the whole stored basis twice (classical Gram-Schmidt, twice: "CGS2"), as two
  matrix-vector products with the (k x dim) basis on the vectors' device, never
  a Python loop over vectors. Without it, rounding errors make the basis lose
  orthogonality as soon as a Ritz value converges, and copies of converged
  eigenvalues ("ghosts", Paige 1976) appear in T: harmless for smooth density
  estimates in theory, but they mislead anyone reading individual Ritz values and
  they put weight at the wrong places for few probes. Switch it off
  (reorthogonalize=False) for models where steps x dim float64 does not fit.
* Breakdown: when β_j falls to tol times the scale of T seen so far (the largest
  |α| or β), the Krylov space is invariant (the start vector touches only j
  eigenvectors, or A has only j distinct eigenvalues). Then T is exact and we stop
  with a warning that names the step; no silent restart with a new random vector
  (PyHessian's), which would change the quadrature's meaning.
* T's eigenproblem with `eigh` (symmetric), never the general `eig` that PyHessian
  uses.

Works on NumPy, CuPy or the strict stand-in: all vector arithmetic uses the array
module of the start vector, and only the scalars α and β come to the host,
explicitly, once per step.
"""
import warnings

import numpy

import minigrad as mg

DEFAULT_TOL = 1e-10


class LanczosBreakdown(UserWarning):
    """The Krylov space became invariant before the requested number of steps."""


def lanczos(matvec, dim, start, steps, reorthogonalize=True, tol=DEFAULT_TOL, return_basis=False, progress=None):
    """Run `steps` Lanczos iterations of the symmetric operator `matvec` from `start`.

    matvec      v -> A v for flat float64 vectors of length dim (on start's device)
    dim         the operator's dimension
    start       the start vector (any nonzero vector on the device the basis should live on;
                it is normalized here, in float64)
    steps       the number of iterations m (at most dim)
    reorthogonalize  full reorthogonalization against every stored vector (CGS2); stores a
                m x dim float64 basis. False: the plain three-term recurrence, keeping two vectors
    tol         breakdown tolerance: stop when β_j <= tol * max(|α_1..j|, β_1..j-1)
    return_basis  also return the basis (k x dim, on the device; needs reorthogonalize=True)
    progress    called as progress(j) after each step j = 1 .. m (for a progress bar)

    Returns (alphas, betas) as host float64 NumPy arrays of lengths k and k-1, with k = steps
    unless the iteration broke down earlier (then k < steps and a LanczosBreakdown warning says
    at which step); with return_basis=True, (alphas, betas, basis).

    Rows: for an operator of S ensemble members (vectors (S, dim), analysis/spectra/hessian.py)
    `start` is (S, dim) and the S recurrences run side by side, one product per step for all.
    Each row does exactly the arithmetic its own single run would and stops at its own
    breakdown (its row of later products is zero); the result is a list, one tuple per row.
    """
    steps, dim = int(steps), int(dim)
    if not 1 <= steps <= dim:
        raise ValueError(f"Lanczos needs 1 <= steps <= dim; got steps={steps} for dim={dim}")
    if return_basis and not reorthogonalize:
        raise ValueError("return_basis needs reorthogonalize=True (without it only two vectors are kept)")
    xp = mg.get_array_module(start)
    rows = start.shape[:-1] if start.ndim == 2 else ()
    flat = start.astype(numpy.float64).reshape(-1, start.shape[-1])
    vs = [flat[s] for s in range(flat.shape[0])]
    if start.ndim > 2 or vs[0].shape != (dim,):
        raise ValueError(f"the start vector must have {dim} entries, not shape {tuple(start.shape)}")
    for s, v in enumerate(vs):
        norm = mg.to_float(v @ v) ** 0.5
        if not norm > 0:
            raise ValueError("the Lanczos start vector is zero")
        vs[s] = v / norm
    count = len(vs)
    basis = xp.zeros((count, steps, dim), dtype=numpy.float64) if reorthogonalize else None
    alphas, betas = [[] for _ in vs], [[] for _ in vs]
    previous, beta, scale = [None] * count, [0.0] * count, [0.0] * count
    live = list(range(count))
    for j in range(steps):
        if basis is not None:
            for s in live:
                basis[s, j] = vs[s]
        products = matvec(xp.stack(vs) if rows else vs[0])
        if mg.get_array_module(products) is not xp:
            raise TypeError("the operator returned a vector on another device than the start vector's")
        products = products.astype(numpy.float64).reshape(count, dim)
        for s in list(live):
            v, w = vs[s], products[s]
            alpha = mg.to_float(v @ w)
            alphas[s].append(alpha)
            w = w - alpha * v
            if previous[s] is not None:
                w = w - beta[s] * previous[s]
            if basis is not None:
                done = basis[s, :j + 1]
                for _ in range(2):              # CGS2: one pass leaves O(eps * cond) components, two do not
                    w = w - done.T @ (done @ w)
            if j == steps - 1:
                continue
            scale[s] = max(scale[s], abs(alpha), beta[s])
            beta[s] = mg.to_float(w @ w) ** 0.5
            if not numpy.isfinite(beta[s]):
                raise FloatingPointError(f"Lanczos step {j + 1}: the operator produced a non-finite vector")
            if beta[s] <= tol * scale[s]:
                member = f" (row {s})" if rows else ""
                warnings.warn(f"Lanczos breakdown at step {j + 1} of {steps}{member}: beta = {beta[s]:.3g} <= "
                              f"{tol:g} x {scale[s]:.3g} (the Krylov space is invariant); stopping with {j + 1} "
                              "exact Ritz values", LanczosBreakdown, stacklevel=2)
                live.remove(s)
                vs[s] = xp.zeros_like(v)
                continue
            betas[s].append(beta[s])
            previous[s], vs[s] = v, w / beta[s]
        if progress is not None:
            progress(j + 1)
        if not live:
            break
    results = []
    for s in range(count):
        a, b = numpy.array(alphas[s], dtype=numpy.float64), numpy.array(betas[s], dtype=numpy.float64)
        results.append((a, b, basis[s, :len(a)]) if return_basis else (a, b))
    return results if rows else results[0]


def tridiagonal(alphas, betas):
    """T as a dense host float64 matrix."""
    alphas = numpy.asarray(alphas, dtype=numpy.float64)
    betas = numpy.asarray(betas, dtype=numpy.float64)
    if betas.shape != (max(len(alphas) - 1, 0),):
        raise ValueError(f"a tridiagonal with {len(alphas)} diagonal entries has {max(len(alphas) - 1, 0)} "
                         f"off-diagonal ones, not {len(betas)}")
    return numpy.diag(alphas) + numpy.diag(betas, 1) + numpy.diag(betas, -1)


def gauss_quadrature(alphas, betas):
    """(nodes, weights) of T: its eigenvalues (ascending) and the squared first components of its eigenvectors.

    `eigh`, never `eig`: T is symmetric. The weights sum to 1 (up to rounding), and
    Σ w θ^k = q_1ᵀ A^k q_1 exactly for k <= 2m - 1 (Gauss quadrature).
    """
    nodes, vectors = numpy.linalg.eigh(tridiagonal(alphas, betas))
    return nodes, vectors[0] ** 2
