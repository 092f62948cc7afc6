"""Parameters laid end to end in one flat buffer, so an optimizer can update all of them at once.

A training step of a deep net has tens of parameter tensors. Updating them one by one
costs a handful of array operations each: on a GPU, hundreds of tiny kernel launches
per step. With every parameter a view into one contiguous buffer (one buffer per device
and dtype), the gradients are gathered into a twin buffer with one concatenation and the
update is a few whole-buffer operations.

The parameters' `.data` become views here. Anything that later gives a parameter a new
array (moving the model to another device, say) detaches it: build the optimizer after
the model is where it will train (`check` says so if it happens).
"""
from ..backend import get_array_module


class Flat:
    """The parameters of one device and dtype, end to end in `data`; `p.data` is a view into it."""

    def __init__(self, params):
        first = params[0].data
        self.xp = get_array_module(first)
        self.params = params
        self.shapes = [p.data.shape for p in params]
        ends, total = [], 0
        for p in params:
            total += p.data.size
            ends.append(total)
        self.slices = [slice(end - p.data.size, end) for p, end in zip(params, ends)]
        self.data = self.xp.empty(total, dtype=first.dtype)
        for p, part in zip(params, self.slices):
            self.data[part] = p.data.reshape(-1)
        self.views = self.split(self.data)
        for p, view in zip(params, self.views):
            p.data = view

    def zeros(self):
        return self.xp.zeros_like(self.data)

    def split(self, flat):
        """Views of a flat buffer shaped like the parameters."""
        return [flat[part].reshape(shape) for part, shape in zip(self.slices, self.shapes)]

    def gather(self, arrays, out):
        """Write the parameter-shaped `arrays` end to end into `out` (one concatenation)."""
        self.xp.concatenate([a.reshape(-1) for a in arrays], out=out)
        return out

    def check(self):
        if any(p.data is not view for p, view in zip(self.params, self.views)):
            raise RuntimeError("a parameter was given a new array after its optimizer was built (was the model "
                               "moved to another device?); build the optimizer after the model is in place")


def flat_groups(params):
    """One Flat per (array module, dtype) among `params`, in order of first appearance."""
    groups = {}
    for p in params:
        groups.setdefault((id(get_array_module(p.data)), p.data.dtype), []).append(p)
    return [Flat(group) for group in groups.values()]
