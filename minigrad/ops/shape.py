"""Ops that move values without changing them: reshape, transpose, indexing, concatenation.

Each is linear, so its jvp is the op itself applied to the tangent, and its vjp is
its transpose: the op that moves every cotangent back to where its value came from.
"""
from ..core import Function, unwrap


class Reshape(Function):
    """y = x with a new shape.   x̄ = ȳ reshaped back,  ẏ = ẋ reshaped."""

    shape: tuple            # the new shape, with no -1 left

    def forward(self, x):
        return x.reshape(self.shape)

    def vjp(self, gy):
        return (reshape(gy, self.inputs[0].shape),)

    def jvp(self, tx):
        return tx.reshape(self.shape)


class Transpose(Function):
    """y = x with permuted axes.   x̄ = ȳ with the inverse permutation,  ẏ = ẋ permuted."""

    axes: tuple             # the permutation, non-negative

    def forward(self, x):
        return x.transpose(self.axes)

    def vjp(self, gy):
        inverse = tuple(sorted(range(len(self.axes)), key=self.axes.__getitem__))
        return (transpose(gy, inverse),)

    def jvp(self, tx):
        return tx.transpose(self.axes)


class GetItem(Function):
    """y = x[index].   x̄ = ȳ added into zeros at `index` (repeated indices add up),  ẏ = ẋ[index]."""

    index: object           # a NumPy index: int, slice, array, or a tuple of them

    def forward(self, x):
        return x[self.index]

    def vjp(self, gy):
        return (IndexAdd.apply(gy, index=self.index, shape=self.inputs[0].shape),)

    def jvp(self, tx):
        return tx[self.index]


class IndexAdd(Function):
    """y = zeros(shape) with x added at `index`: the transpose of GetItem.   x̄ = ȳ[index],  ẏ = IndexAdd(ẋ)."""

    index: object           # the index of the GetItem this transposes
    shape: tuple            # the shape of that GetItem's input

    def forward(self, x):
        y = self.xp.zeros(self.shape, x.dtype)
        if _is_basic(self.index):
            y[self.index] = x               # a view: no position repeats
        else:
            self.xp.add.at(y, self.index, x)
        return y

    def vjp(self, gy):
        return (getitem(gy, self.index),)

    def jvp(self, tx):
        return self.forward(tx)


class Concat(Function):
    """y = [x₁, x₂, ...] joined along `axis`.   x̄_k = the k-th block of ȳ,  ẏ = [ẋ₁, ẋ₂, ...]."""

    axis: int               # non-negative

    def forward(self, *xs):
        return self.xp.concatenate(xs, axis=self.axis)

    def vjp(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            index = [slice(None)] * gy.ndim
            index[self.axis] = slice(start, start + x.shape[self.axis])
            grads.append(getitem(gy, tuple(index)))
            start += x.shape[self.axis]
        return tuple(grads)

    def jvp(self, *tangents):
        xp = self.xp
        return xp.concatenate([xp.zeros(x.shape, x.dtype) if t is None else t
                               for x, t in zip(self.inputs, tangents)], axis=self.axis)


def _is_basic(index):
    """True when an index holds only ints, slices, None and Ellipsis (each position at most once)."""
    index = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def reshape(x, shape):
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    if -1 in shape:   # resolve -1 here so the vjp and jvp see a concrete shape
        known = 1
        for n in shape:
            known *= n if n != -1 else 1
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    return x if x.shape == shape else Reshape.apply(x, shape=shape)


def transpose(x, axes=None):
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    return Transpose.apply(x, axes=axes)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def getitem(x, index):
    index = tuple(unwrap(i) for i in index) if isinstance(index, tuple) else unwrap(index)
    return GetItem.apply(x, index=index)


def concatenate(xs, axis=0):
    xs = list(xs)
    return Concat.apply(*xs, axis=axis % xs[0].ndim)


def stack(xs, axis=0):
    """Composite: give each tensor a new axis of length 1, then concatenate along it."""
    xs = list(xs)
    axis = axis % (xs[0].ndim + 1)
    return concatenate([reshape(x, x.shape[:axis] + (1,) + x.shape[axis:]) for x in xs], axis)
