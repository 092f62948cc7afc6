"""Reductions and their adjoints: sum ↔ broadcast, max, and the composites mean and logsumexp.

Summing and broadcasting are each other's transposes: summing over an axis sends
every x_i to the same y, so each x_i receives all of ȳ (a broadcast); broadcasting
copies x to many places, so x̄ collects the sum of the copies' cotangents.
"""
from ..core import Function
from .elementwise import exp, log


def _axes(axis, ndim):
    """A sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axis))


def _kept_shape(shape, axes):
    """The shape of a reduction with keepdims=True: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def sum_to_array(xp, a, shape):
    """Sum the array `a` down to `shape` (the reverse of NumPy broadcasting)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1)
    return a.sum(axis=axes, keepdims=True).reshape(shape) if axes else a.reshape(shape)


class Sum(Function):
    """y = Σ_{axes} x.   Each x_i feeds y once:   x̄ = ȳ broadcast back to x's shape,  ẏ = Σ ẋ."""

    axes: tuple             # the reduced axes, sorted and non-negative
    keepdims: bool

    def forward(self, x):
        return self.xp.asarray(x.sum(axis=self.axes, keepdims=self.keepdims))

    def vjp(self, gy):
        x = self.inputs[0]
        return (broadcast_to(gy.reshape(_kept_shape(x.shape, self.axes)), x.shape),)

    def jvp(self, tx):
        return self.xp.asarray(tx.sum(axis=self.axes, keepdims=self.keepdims))


class SumTo(Function):
    """y = x summed down to `shape` (undoing a broadcast).   x̄ = ȳ broadcast to x's shape,  ẏ = ẋ summed."""

    shape: tuple            # the shape to sum down to

    def forward(self, x):
        return sum_to_array(self.xp, x, self.shape)

    def vjp(self, gy):
        return (broadcast_to(gy, self.inputs[0].shape),)

    def jvp(self, tx):
        return sum_to_array(self.xp, tx, self.shape)


class BroadcastTo(Function):
    """y = x copied along broadcast axes.   x̄ = ȳ summed back to x's shape,  ẏ = ẋ broadcast."""

    shape: tuple            # the shape to broadcast to

    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def vjp(self, gy):
        return (sum_to(gy, self.inputs[0].shape),)

    def jvp(self, tx):
        return self.xp.broadcast_to(tx, self.shape)


class Max(Function):
    """y = max_{axes} x.   ∂y/∂x_i = 1 for the arg-max, 0 elsewhere (split evenly among ties).

    With the constant weights m_i = [x_i = y] / #ties:   x̄ = ȳ·m,  ẏ = Σ ẋ·m.
    """

    axes: tuple             # the reduced axes, sorted and non-negative
    keepdims: bool

    def forward(self, x):
        return self.xp.asarray(x.max(axis=self.axes, keepdims=self.keepdims))

    def _weights(self):
        x, y = self.inputs[0].data, self.output.data
        hit = (x == y.reshape(_kept_shape(x.shape, self.axes))).astype(x.dtype)
        return hit / hit.sum(axis=self.axes, keepdims=True)

    def vjp(self, gy):
        x = self.inputs[0]
        return (broadcast_to(gy.reshape(_kept_shape(x.shape, self.axes)), x.shape) * self._weights(),)

    def jvp(self, tx):
        return self.xp.asarray((tx * self._weights()).sum(axis=self.axes, keepdims=self.keepdims))


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axes=_axes(axis, x.ndim), keepdims=keepdims)


def sum_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else SumTo.apply(x, shape=shape)


def broadcast_to(x, shape):
    shape = tuple(shape)
    return x if x.shape == shape else BroadcastTo.apply(x, shape=shape)


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axes=_axes(axis, x.ndim), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Composite: Σx / n, so its derivative follows from Sum and Mul."""
    axes = _axes(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, axes, keepdims) * (1.0 / count)


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x), computed stably as m + log Σ exp(x - m) with m = max x.

    m is taken as a constant: the result does not depend on m at all, so the
    derivative (softmax(x)) is exact without differentiating through the max.
    """
    axes = _axes(axis, x.ndim)
    m = x.data.max(axis=axes, keepdims=True)
    m = x.xp.where(x.xp.isfinite(m), m, 0)
    out = log(sum(exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in axes))
