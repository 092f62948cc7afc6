"""Adam (Kingma & Ba 2015), the optimizer of the paper (learning rate 5e-4).

    m ← β₁m + (1-β₁)g        v ← β₂v + (1-β₂)g²
    θ ← θ - lr · (m / (1-β₁ᵗ)) / (√(v / (1-β₂ᵗ)) + ε)

with t the number of updates this parameter has had (as in PyTorch).

Weight decay, if any, is added to g (L2, as in PyTorch's Adam). The regularizers
of the paper are not here but in the loss, so Hessians see them.
"""
import math

from ..backend import get_array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, params, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def update(self, param, grad, state, t):
        lr, (b1, b2), eps, wd = (self.hyper[k] for k in ("lr", "betas", "eps", "weight_decay"))
        if wd:
            grad = grad + wd * param
        if "m" not in state:
            xp = get_array_module(param)
            state["m"], state["v"] = xp.zeros_like(param), xp.zeros_like(param)
        m, v = state["m"], state["v"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        denom = v ** 0.5
        denom *= 1 / math.sqrt(1 - b2 ** t)
        denom += eps
        param -= (lr / (1 - b1 ** t)) * (m / denom)
