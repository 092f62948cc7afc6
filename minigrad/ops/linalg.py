"""Matrix products: the batched matmul and the dense layer's fused y = x Wᵀ + b.

For y = a b (matrices), perturbing a by δa changes y by δa b, so
    ⟨ȳ, δa b⟩ = ⟨ȳ bᵀ, δa⟩   gives   ā = ȳ bᵀ,   and likewise   b̄ = aᵀ ȳ.
Both are products again, so second order needs nothing new.
"""
from ..core import Function, plus_into
from .reduce import sum_to
from .shape import swapaxes


class MatMul(Function):
    """y = a @ b (leading axes are batch axes and broadcast).

    ā = ȳ bᵀ,  b̄ = aᵀ ȳ  (ᵀ swaps the last two axes),  ẏ = ȧ b + a ḃ.
    """

    def forward(self, a, b):
        return a @ b

    def vjp(self, gy):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        return (matmul(gy, swapaxes(b, -1, -2)) if need_a else None,
                matmul(swapaxes(a, -1, -2), gy) if need_b else None)

    def jvp(self, ta, tb):
        a, b = (t.data for t in self.inputs)
        return plus_into(None if ta is None else ta @ b, None if tb is None else a @ tb)


class Linear(Function):
    """The dense layer, fused: y = x Wᵀ + b, with x of shape (N, in), W (out, in), b (out,).

    x̄ = ȳ W,   W̄ = ȳᵀ x,   b̄ = Σ_n ȳ_n,   ẏ = ẋ Wᵀ + x Ẇᵀ + ḃ.

    The bias is added into the product's output (forward and jvp alike: the same additions as
    out of place). One op instead of transpose + matmul + add keeps the graph small, and a
    gradient nobody asked for is never computed: the first layer never forms x̄
    for the data, which saves its largest product.

    Leading axes are batch axes, as in matmul: the S members of an ensemble have W of
    shape (S, out, in) and b (S, 1, out), and x is (S, N, in), or (N, in) when every
    member reads the same data. Each cotangent is summed back to its input's shape.
    """

    def forward(self, x, w, b=None):
        y = x @ self.xp.swapaxes(w, -1, -2)
        if b is not None:
            y += b
        return y

    def vjp(self, gy):
        x, w = self.inputs[:2]
        need = self.needs_input_grad
        grads = [sum_to(matmul(gy, w), x.shape) if need[0] else None,
                 sum_to(matmul(swapaxes(gy, -1, -2), x), w.shape) if need[1] else None]
        if len(need) == 3:
            grads.append(sum_to(gy, self.inputs[2].shape) if need[2] else None)
        return grads

    def jvp(self, tx, tw, tb=None):
        xp = self.xp
        x, w = self.inputs[0].data, self.inputs[1].data
        return plus_into(None if tx is None else tx @ xp.swapaxes(w, -1, -2),   # a new array: the others add into it
                         None if tw is None else x @ xp.swapaxes(tw, -1, -2), tb)


def matmul(a, b):
    if min(getattr(a, "ndim", 2), getattr(b, "ndim", 2)) < 2:
        raise ValueError("matmul needs inputs with at least 2 dimensions; reshape vectors to (n, 1) or (1, n)")
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """x Wᵀ + b for x of shape (N, in) and W of shape (out, in); leading axes of either are batch axes."""
    if x.ndim < 2 or weight.ndim < 2 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear expects x (N, {weight.shape[-1]}) and weight (out, in); got {x.shape} and {weight.shape}")
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
