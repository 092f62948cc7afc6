"""Fixed (non-learned) skip matrices of docs/paper.md §2.3 and Supp. Notes 2 and 6.

Each function returns an n×n NumPy (host) array drawn from a seeded
`numpy.random.Generator`; a model keeps it as a buffer (not a parameter) and
applies it to a layer's activity x as Q x. The constructions are computed in
float64 and cast to `dtype` at the end.

    identity       I
    ortho          a dense random orthogonal matrix (Haar), the paper's "128"
    k<N>           reduced orthogonality: N distinct orthonormal columns, each used n/N times
    beta<value>    eigenvalues on the unit circle, eigenvectors correlated by β (Supp. Note 6)

`make(spec, n, rng, dtype)` builds one from its name; `check(spec, n)` validates a
name without drawing anything and raises ValueError with one sentence otherwise;
`canonical(spec, n)` gives its one spelling.
"""
import math

import numpy

from minigrad.nn import init

# The β values of Fig 8 (for reference; any β >= 0 is accepted).
PAPER_BETAS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.025)


def identity(n, rng=None, dtype=numpy.float32):
    """The identity I (n×n): the ordinary residual skip. Draws nothing from `rng`."""
    return numpy.eye(n, dtype=dtype)


def dense_orthogonal(n, rng, dtype=numpy.float32):
    """A random dense orthogonal matrix, Haar-distributed: the paper's skip type "128".

    QR of an n×n standard normal matrix with the signs of R's diagonal moved into Q
    (Mezzadri 2007), as `minigrad.nn.init.orthogonal` does.
    """
    return init.orthogonal(rng, (n, n), numpy.float64).astype(dtype)


def valid_k(n):
    """The numbers of distinct columns the halving construction can reach from n: n, n/2, n/4, ..., down to an odd number."""
    ks = [n]
    while ks[-1] % 2 == 0:
        ks.append(ks[-1] // 2)
    return sorted(ks)


def reduced_orthogonal(n, k, rng, dtype=numpy.float32):
    """A skip matrix with exactly k distinct orthonormal columns, each repeated n/k times (Supp. Note 2, Fig 7).

    The paper's construction: start from a dense random orthogonal Q (n distinct
    orthonormal columns), split its columns into two halves and copy the first
    half over the second (n/2 distinct vectors, each used twice); repeat on the
    distinct half until k remain. The result is periodic in the column index:
    column j equals column j mod k of Q, so the k distinct columns are Q's first k.
    k must be reachable by halving: n, n/2, n/4, ... (for n = 128: 128, 64, ..., 1).
    k = n gives the dense orthogonal matrix itself (the same draw as `dense_orthogonal`).
    """
    if k not in valid_k(n):
        raise ValueError(f"k={k} distinct columns cannot be reached by halving {n} columns; "
                         f"choose one of {', '.join(map(str, valid_k(n)))}.")
    q = dense_orthogonal(n, rng, numpy.float64)
    width = n
    while width > k:                       # the halving-and-copying, literally
        width //= 2
        q[:, width:2 * width] = q[:, :width]
        q[:, 2 * width:] = numpy.tile(q[:, :2 * width], (1, n // (2 * width) - 1))
    return q.astype(dtype)


def beta_correlated(n, beta, rng, dtype=numpy.float32):
    """A real matrix with every eigenvalue on the unit circle and eigenvectors correlated by β (Supp. Note 6, Fig 8).

    1. Q random orthogonal; S = Q Λ Qᵀ with Λ_ii = exp(-β(i-1)), i = 1..n.
    2. R = D^-1/2 S D^-1/2 with D = diag(S) (a correlation matrix).
    3. Cholesky: R = T Tᵀ (T lower triangular).
    4. O another random orthogonal matrix; Σ = T O T⁻¹.
    Σ is real and similar to O, so its eigenvalues are O's and lie on the unit circle;
    its eigenvectors T u_j have correlation structure R. β = 0 gives S = R = T = I and
    Σ = O, an orthogonal matrix (orthonormal eigenvectors); larger β, more correlated ones.
    """
    if not (beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    q = dense_orthogonal(n, rng, numpy.float64)
    s = (q * numpy.exp(-beta * numpy.arange(n))) @ q.T
    d = 1.0 / numpy.sqrt(numpy.diag(s))
    r = s * d[:, None] * d[None, :]
    t = numpy.linalg.cholesky((r + r.T) / 2)
    o = dense_orthogonal(n, rng, numpy.float64)
    sigma = numpy.linalg.solve(t.T, (t @ o).T).T       # (T O) T⁻¹ without forming T⁻¹
    return sigma.astype(dtype)


def _parse(spec):
    """(kind, value) for a skip matrix name, or None when it is not one."""
    if not isinstance(spec, str):
        return None
    if spec in ("identity", "ortho"):
        return spec, None
    if spec.startswith("k") and spec[1:].isdigit():
        return "k", int(spec[1:])
    if spec.startswith("beta"):
        try:
            value = float(spec[4:])
        except ValueError:
            return None
        return ("beta", value) if value >= 0 and math.isfinite(value) else None
    return None


def choices(n):
    """The valid skip matrix names for width n, as one phrase for error messages."""
    return (f"identity, ortho, k<N> with N in {', '.join(map(str, valid_k(n)))}, "
            f"or beta<value> with value >= 0 (e.g. beta0.01)")


def check(spec, n, what="skip matrix"):
    """Raise ValueError (one sentence listing the valid names) unless `spec` names a skip matrix for width n."""
    parsed = _parse(spec)
    if parsed is None or (parsed[0] == "k" and parsed[1] not in valid_k(n)):
        raise ValueError(f"unknown {what} {spec!r} for width {n}; choose one of: {choices(n)}.")
    return parsed


def canonical(spec, n, what="skip matrix"):
    """The one spelling of a valid name ('k032' -> 'k32', 'beta1e-2' -> 'beta0.01'), for configs."""
    kind, value = check(spec, n, what)
    return {"k": f"k{value}", "beta": f"beta{value!r}"}.get(kind, kind)


def make(spec, n, rng, dtype=numpy.float32):
    """The n×n skip matrix named `spec` ('identity', 'ortho', 'k32', 'beta0.01'), drawn from `rng`."""
    kind, value = check(spec, n)
    if kind == "identity":
        return identity(n, rng, dtype)
    if kind == "ortho":
        return dense_orthogonal(n, rng, dtype)
    if kind == "k":
        return reduced_orthogonal(n, value, rng, dtype)
    return beta_correlated(n, value, rng, dtype)
