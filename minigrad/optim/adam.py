"""Adam (Kingma & Ba 2015), the optimizer of the paper (learning rate 5e-4).

    m ← β₁m + (1-β₁)g        v ← β₂v + (1-β₂)g²
    θ ← θ - lr · (m / (1-β₁ᵗ)) / (√(v / (1-β₂ᵗ)) + ε)

with t the number of updates this parameter has had (as in PyTorch).

Weight decay, if any, is added to g (L2, as in PyTorch's Adam). The regularizers
of the paper are not here but in the loss, so Hessians see them.

The parameters, their gradients and both moments live in flat buffers (flat.py). When
every parameter of a buffer has a gradient and the same update count, as in training,
one step updates the whole buffer with the formula above; otherwise each parameter is
updated alone, through views of the same buffers. Both give the same numbers.
"""
import math

from .flat import flat_groups
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, params, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self.groups = flat_groups(self.params)
        self.index = {id(p): i for i, p in enumerate(self.params)}
        for group in self.groups:
            group.m, group.v, group.grad = group.zeros(), group.zeros(), group.zeros()
            group.moments = list(zip(group.split(group.m), group.split(group.v)))

    def step(self):
        self.steps += 1
        for group in self.groups:
            group.check()
            rows = [self.index[id(p)] for p in group.params]
            counts = {self.counts[i] for i in rows}
            if len(counts) == 1 and all(p.grad is not None for p in group.params):
                t = counts.pop() + 1
                for i, (m, v) in zip(rows, group.moments):
                    self.counts[i] = t
                    self.state[i].update(m=m, v=v)
                grad = group.gather([p.grad.data for p in group.params], out=group.grad)
                self._update(group.data, grad, group.m, group.v, t)
            else:
                for i, p, (m, v) in zip(rows, group.params, group.moments):
                    if p.grad is not None:
                        self.counts[i] += 1
                        self.state[i].update(m=m, v=v)
                        self._update(p.data, p.grad.data, m, v, self.counts[i])

    def _update(self, param, grad, m, v, t):
        """The formula above, in place on `param`, `m` and `v` (whole buffers or one parameter's views)."""
        lr, (b1, b2), eps, wd = (self.hyper[k] for k in ("lr", "betas", "eps", "weight_decay"))
        if wd:
            grad = grad + wd * param
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        denom = v ** 0.5
        denom *= 1 / math.sqrt(1 - b2 ** t)
        denom += eps
        param -= (lr / (1 - b1 ** t)) * (m / denom)

    def load_state_dict(self, saved):
        """Copy the saved moments into the flat buffers (the parameters' views must stay views)."""
        super().load_state_dict(saved)
        loaded = self.state
        self.state = [{} for _ in self.params]
        for group in self.groups:
            for p, (m, v) in zip(group.params, group.moments):
                i = self.index[id(p)]
                m[...], v[...] = (loaded[i].get(k, 0.0) for k in ("m", "v"))
                if loaded[i]:
                    self.state[i].update(m=m, v=v)
