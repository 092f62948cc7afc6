"""The core: Tensor, the Function that links tensors into a graph, and the grad-mode switch.

A Tensor wraps one array of the active array module. When it is computed by a
Function from tensors that require gradients, it remembers that Function as its
`creator`; following creators backwards from a loss walks the whole graph
(define-by-run). Every Function has two derivative rules, `vjp` (reverse mode,
written in Tensor ops so it can be differentiated again) and `jvp` (forward mode,
on the `tangent` arrays tensors may carry).

This module imports nothing else of minigrad but the backend: the ops
(minigrad/ops/) bind the operators and methods onto Tensor, and autodiff.py binds
`Tensor.backward`, each building on the core as HIPS/autograd does.
docs/engine.md, steps 2 and 5, walks through it.
"""
import inspect
import weakref
from contextlib import contextmanager

import numpy

from .backend import device_of, get_array_module, to_device, to_host


class _GradMode:
    enabled = True


@contextmanager
def grad_mode(enabled):
    """Record the graph (True) or not (False) inside the block."""
    previous, _GradMode.enabled = _GradMode.enabled, bool(enabled)
    try:
        yield
    finally:
        _GradMode.enabled = previous


def no_grad():
    """Compute without recording a graph (evaluation, optimizer updates)."""
    return grad_mode(False)


def is_grad_enabled():
    return _GradMode.enabled


class Function:
    """One differentiable operation. Subclasses write three short methods:

    forward(*arrays) -> array       the value, on raw arrays of module `self.xp`
    vjp(gy) -> tuple                x̄_i = (∂y/∂x_i)ᵀ ȳ for each input, built from Tensor
                                    ops (None where an input needs no gradient)
    jvp(*tangents) -> array         ẏ = Σ_i (∂y/∂x_i) ẋ_i, on arrays; a tangent of None is zero

    and declare their settings (constants that are not inputs: an exponent, an axis)
    as class annotations, `p: float`, which `apply` then requires as keywords and sets
    as attributes. Inside the rules, `self.inputs` are the input Tensors, `self.output`
    the output Tensor, and `self.needs_input_grad` says which inputs want a gradient.
    """

    needs_input_grad = ()
    settings = ()        # the names of the subclass's declared settings, in order (set by __init_subclass__)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.settings = tuple(inspect.get_annotations(cls))
        cls._setting_names = frozenset(cls.settings)

    @classmethod
    def apply(cls, *inputs, **attrs):
        fn = cls.__new__(cls)
        if attrs or cls.settings:
            if attrs.keys() != cls._setting_names:
                raise TypeError(f"{cls.__name__} takes the settings ({', '.join(cls.settings)}); "
                                f"got ({', '.join(attrs)})")
            fn.__dict__.update(attrs)
        for t in inputs:
            if not isinstance(t, Tensor):
                inputs = _as_tensors(inputs)
                break
        fn.inputs = inputs
        arrays, record, forward_mode = [], False, False
        for t in inputs:            # one pass instead of three: this runs for every op
            arrays.append(t.data)
            record = record or t.requires_grad
            forward_mode = forward_mode or t.tangent is not None
        fn.xp = get_array_module(arrays[0])
        out = Tensor(fn.forward(*arrays))
        if record and _GradMode.enabled:
            out.requires_grad = True
            out.creator = fn
            fn._output = weakref.ref(out)   # a strong reference would make a cycle
        else:
            fn._output = lambda: out
        if forward_mode:
            tangent = fn.jvp(*[t.tangent for t in inputs])
            if tangent.shape != out.data.shape:   # a broadcast input's tangent alone
                tangent = fn.xp.broadcast_to(tangent, out.data.shape)
            out.tangent = tangent
        return out

    @property
    def output(self):
        return self._output()

    def __repr__(self):
        shown = ", ".join(f"{name}={_brief(getattr(self, name))}" for name in self.settings)
        return f"{type(self).__name__}({shown})" if shown else type(self).__name__


def _brief(value):
    """A setting as a repr shows it: an array by its shape and dtype, anything else as itself."""
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_brief, value)) + ("," if len(value) == 1 else "") + ")"
    if getattr(value, "ndim", 0):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    return repr(value)


def unwrap(value):
    """The array inside a Tensor; anything else as it is."""
    return value.data if isinstance(value, Tensor) else value


def plus(*terms):
    """Sum of the tangent terms that are present: in jvp rules None is a zero tangent."""
    present = [t for t in terms if t is not None]
    total = present[0]
    for t in present[1:]:
        total = total + t
    return total


def plus_into(*terms):
    """plus(*terms), where the first present term takes the sum in place: the same additions in the same order,
    without a new array for each. That term must be an array the rule has just computed (nobody else holds
    it) or the only present one. A term that would change the result's dtype or shape is added out of place,
    so the result is always plus's."""
    present = [t for t in terms if t is not None]
    total = present[0]
    for t in present[1:]:
        if t.dtype == total.dtype and _broadcasts_into(t.shape, total.shape):
            total += t
        else:
            total = total + t
    return total


def _broadcasts_into(shape, into):
    """True when an array of `shape` broadcasts against one of shape `into` without enlarging it."""
    return len(shape) <= len(into) and all(n in (1, m) for n, m in zip(reversed(shape), reversed(into)))


def _as_tensors(values):
    """Wrap constants (arrays, Python numbers) as Tensors on the device and dtype of the first Tensor."""
    like = None
    for v in values:
        if isinstance(v, Tensor):
            like = v
            break
    else:
        return tuple(Tensor(v) for v in values)
    return tuple(v if isinstance(v, Tensor) else
                 Tensor(like.xp.asarray(v, dtype=like.dtype) if isinstance(v, (int, float)) else v)
                 for v in values)


class Tensor:
    """An array plus what autodiff needs: `requires_grad`, its `creator`, a `.grad`, a `tangent`."""

    __slots__ = ("data", "requires_grad", "creator", "grad", "tangent", "__weakref__")
    __array_ufunc__ = None   # make `ndarray + Tensor` call Tensor.__radd__ instead of NumPy

    def __init__(self, data, requires_grad=False):
        if isinstance(data, (int, float, numpy.generic)):   # NumPy reductions return scalars
            data = numpy.asarray(data)
        self.data = data
        self.requires_grad = requires_grad
        self.creator = None
        self.grad = None
        self.tangent = None

    # --- what it is -------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    xp = property(lambda self: get_array_module(self.data))

    @property
    def device(self):
        return device_of(self.data)

    def __len__(self):
        return self.data.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device.name}{grad})"

    # --- leaving the graph, changing place ---------------------------------------------
    def detach(self):
        """The same values, cut from the graph (no creator, no tangent)."""
        return Tensor(self.data)

    def numpy(self):
        """The values as a NumPy array: the data itself on the CPU (shared), a copy from a device."""
        return to_host(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number (a device-to-host copy)."""
        return to_host(self.data).item()

    def to(self, device):
        """A copy on `device` ('cpu' or 'cuda'), cut from the graph."""
        return Tensor(to_device(self.data, device), self.requires_grad)

    # Built on top of the core, not imported by it: the arithmetic operators and the NumPy-like
    # methods (sum, reshape, exp, ...) are bound in minigrad/ops/__init__.py, which reads as a
    # table, and `backward` in minigrad/autodiff.py.


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf Tensor from a number, list or array, on `device` (default: where the data is, else cpu)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (int, float, list, tuple)):
        data = numpy.asarray(data)
    if device is not None:
        data = to_device(data, device)
    else:
        get_array_module(data)   # a clear error for arrays minigrad cannot place
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return Tensor(data, requires_grad)
