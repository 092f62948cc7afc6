"""Softmax and the softmax cross-entropy with integer labels.

For p = softmax(z), ∂p_i/∂z_j = p_i (δ_ij - p_j), a symmetric matrix, so
    z̄ = p ⊙ (p̄ - ⟨p̄, p⟩)   and   ṗ = p ⊙ (ż - ⟨ż, p⟩).
The cross-entropy of one example with label c is ℓ = logsumexp(z) - z_c, whose
gradient is the famous p - onehot(c).
"""
from ..backend import device_of, to_device
from ..core import Function, unwrap
from .reduce import sum


class Softmax(Function):
    """p = exp(z - logsumexp z) along `axis`.   z̄ = p ⊙ (p̄ - Σ p̄ p),  ṗ = p ⊙ (ż - Σ ż p)."""

    axis: int               # non-negative

    def forward(self, z):
        e = self.xp.exp(z - z.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def vjp(self, gp):
        p = self.output
        return (p * (gp - sum(gp * p, self.axis, keepdims=True)),)

    def jvp(self, tz):
        p = self.output.data
        return p * (tz - (tz * p).sum(axis=self.axis, keepdims=True))


class SoftmaxCrossEntropy(Function):
    """L = (1/N) Σ_n [logsumexp(z_n) - z_n,c_n] for logits z (N, C) and integer labels c (N,).

    z̄ = L̄ (softmax(z) - onehot(c)) / N,   L̇ = Σ_n ⟨softmax(z_n) - onehot(c_n), ż_n⟩ / N.
    softmax(z) is recomputed with the Softmax op (not saved from the forward), so the
    rule stays on the graph and can be differentiated again.

    Leading axes are batch axes: logits (S, N, C) and labels (S, N) give one mean per
    member of an ensemble, L of shape (S,).
    """

    labels: object          # the integer class labels, on the logits' device

    def forward(self, z):
        xp = self.xp
        m = z.max(axis=-1, keepdims=True)
        lse = xp.log(xp.exp(z - m).sum(axis=-1)) + m[..., 0]
        picked = xp.take_along_axis(z, self.labels[..., None], axis=-1)[..., 0]
        return xp.asarray((lse - picked).mean(axis=-1))

    def _onehot(self):
        z = self.inputs[0].data
        return (self.xp.arange(z.shape[-1]) == self.labels[..., None]).astype(z.dtype)

    def vjp(self, gl):
        z = self.inputs[0]
        return ((softmax(z, -1) - self._onehot()) * (gl.reshape(gl.shape + (1, 1)) * (1.0 / z.shape[-2])),)

    def jvp(self, tz):
        z = self.inputs[0].data
        e = self.xp.exp(z - z.max(axis=-1, keepdims=True))
        residual = e / e.sum(axis=-1, keepdims=True) - self._onehot()
        return self.xp.asarray((residual * tz).reshape(z.shape[:-2] + (-1,)).sum(axis=-1) / z.shape[-2])


def softmax(z, axis=-1):
    return Softmax.apply(z, axis=axis % z.ndim)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer class labels (an array on the same device).

    logits (N, C) and labels (N,) give a scalar; logits (S, N, C) and labels (S, N) give
    the S means of an ensemble's members.
    """
    labels = to_device(unwrap(labels), device_of(logits.data))   # host labels are fine: copied once
    if logits.ndim < 2 or labels.shape != logits.shape[:-1]:
        raise ValueError(f"cross-entropy expects logits (N, C) and labels (N,); got {logits.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"cross-entropy expects integer class labels, got dtype {labels.dtype}")
    return SoftmaxCrossEntropy.apply(logits, labels=labels)
