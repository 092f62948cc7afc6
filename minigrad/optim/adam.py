"""Adam (Kingma & Ba 2015), the optimizer of the paper (learning rate 5e-4).

    m ← β₁m + (1-β₁)g        v ← β₂v + (1-β₂)g²
    θ ← θ - lr · (m / (1-β₁ᵗ)) / (√(v / (1-β₂ᵗ)) + ε)

with t the number of updates this parameter has had (as in PyTorch), computed as
θ ← θ - (lr / (1-β₁ᵗ)) · m / (√v · (1/√(1-β₂ᵗ)) + ε), PyTorch's arrangement.

Weight decay, if any, is added to g (L2, as in PyTorch's Adam). The regularizers
of the paper are not here but in the loss, so Hessians see them.

The parameters, their gradients and both moments live in flat buffers (flat.py). When
every parameter of a buffer has a gradient and the same update count, as in training,
one step updates the whole buffer with the formula above; otherwise each parameter is
updated alone, through views of the same buffers. Both give the same numbers.

On NumPy a step is a handful of in-place ufuncs. On CuPy the same formula is one
elementwise kernel (`_kernel`), written with round-to-nearest intrinsics in the
ufuncs' order of operations, so that it rounds exactly as they do (no fused
multiply-adds): one launch per buffer instead of about ten.
"""
import math

from ..backend import get_array_module
from .flat import flat_groups
from .optimizer import Optimizer


CHUNK = 2 ** 16       # elements per piece of a NumPy step: the few arrays it touches stay in cache


class Adam(Optimizer):
    def __init__(self, params, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self.groups = flat_groups(self.params)
        self.index = {id(p): i for i, p in enumerate(self.params)}
        for group in self.groups:
            group.m, group.v, group.grad = group.zeros(), group.zeros(), group.zeros()
            group.moments = list(zip(group.split(group.m), group.split(group.v)))
            group.rows = [self.index[id(p)] for p in group.params]     # its parameters' places in self.params

    def step(self):
        self.steps += 1
        for group in self.groups:
            group.check()
            rows = group.rows
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
        kernel = _kernel(param)
        if kernel is not None and param.flags.c_contiguous:
            kernel(grad, wd, 1 - b1, b1, 1 - b2, b2, 1 / math.sqrt(1 - b2 ** t), eps, lr / (1 - b1 ** t), param, m, v)
            return
        if param.size > CHUNK and param.flags.c_contiguous:
            # ufuncs: a cache-sized piece at a time (an ensemble's buffers are tens of MB); the same numbers
            param, grad, m, v = (a.reshape(-1) for a in (param, grad, m, v))
            for start in range(0, param.size, CHUNK):
                part = slice(start, start + CHUNK)
                self._update(param[part], grad[part], m[part], v[part], t)
            return
        if wd:
            grad = grad + wd * param
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        denom = get_array_module(v).sqrt(v)
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


_KERNELS = {}


def _kernel(array):
    """The fused CUDA step for `array`'s dtype (None off CuPy). Each operation is one IEEE-rounded intrinsic,
    in the order `_update` applies its ufuncs; the scalars are cast to the array's dtype first, as NumPy
    casts a Python float in an expression with a float32 array."""
    xp = get_array_module(array)
    if not hasattr(xp, "ElementwiseKernel") or array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        return None
    key = array.dtype.name
    if key not in _KERNELS:
        f = "f" if array.dtype.itemsize == 4 else "d"
        mul, add, div, sqrt = (f"__{f}{op}_rn" for op in ("mul", "add", "div", "sqrt"))
        body = f"""
            T grad = wd != (T)0 ? {add}(g, {mul}(wd, p)) : g;
            m = {add}({mul}(m, b1), {mul}(c1, grad));
            v = {add}({mul}(v, b2), {mul}(c2, {mul}(grad, grad)));
            T denom = {add}({mul}({sqrt}(v), s2), eps);
            p = {add}(p, -{mul}(step, {div}(m, denom)));
        """
        _KERNELS[key] = xp.ElementwiseKernel(
            "T g, T wd, T c1, T b1, T c2, T b2, T s2, T eps, T step", "T p, T m, T v", body, f"adam_step_{key}")
    return _KERNELS[key]
