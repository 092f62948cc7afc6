"""Softmax and the softmax cross-entropy with integer labels.

For p = softmax(z), ∂p_i/∂z_j = p_i (δ_ij - p_j), a symmetric matrix, so
    z̄ = p ⊙ (p̄ - ⟨p̄, p⟩)   and   ṗ = p ⊙ (ż - ⟨ż, p⟩).
The cross-entropy of one example with label c is ℓ = logsumexp(z) - z_c, whose
gradient is the famous p - onehot(c).
"""
from ..backend import device_of, to_device
from ..tensor import Function, unwrap
from .reduce import sum


class Softmax(Function):
    """p = exp(z - logsumexp z) along `axis`.   z̄ = p ⊙ (p̄ - Σ p̄ p),  ṗ = p ⊙ (ż - Σ ż p)."""

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
    """

    def forward(self, z):
        m = z.max(axis=1, keepdims=True)
        lse = self.xp.log(self.xp.exp(z - m).sum(axis=1)) + m[:, 0]
        return self.xp.asarray((lse - z[self.xp.arange(z.shape[0]), self.labels]).mean())

    def _onehot(self):
        z = self.inputs[0].data
        onehot = self.xp.zeros(z.shape, z.dtype)
        onehot[self.xp.arange(z.shape[0]), self.labels] = 1
        return onehot

    def vjp(self, gl):
        z = self.inputs[0]
        return ((softmax(z, 1) - self._onehot()) * (gl * (1.0 / z.shape[0])),)

    def jvp(self, tz):
        z = self.inputs[0].data
        e = self.xp.exp(z - z.max(axis=1, keepdims=True))
        residual = e / e.sum(axis=1, keepdims=True) - self._onehot()
        return self.xp.asarray((residual * tz).sum() / z.shape[0])


def softmax(z, axis=-1):
    return Softmax.apply(z, axis=axis % z.ndim)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer class labels (an array on the same device)."""
    labels = to_device(unwrap(labels), device_of(logits.data))   # host labels are fine: copied once
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"cross-entropy expects logits (N, C) and labels (N,); got {logits.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"cross-entropy expects integer class labels, got dtype {labels.dtype}")
    return SoftmaxCrossEntropy.apply(logits, labels=labels)
