"""A strict stand-in for CuPy on the CPU: NumPy underneath, but no implicit way back to the host.

CuPy refuses `numpy.asarray(device_array)` and never mixes host and device
arrays in one expression. Code that calls `np.` inside an op, or that turns a
device array into a Python number without saying so, therefore works on NumPy and
breaks on a GPU. Running the test suite on this device catches those mistakes on a
machine without one:

    import minigrad.testing.strict          # registers the device "strict"
    x = minigrad.tensor(data, device="strict")

Every array is a `StrictArray`; the module `strict` forwards any NumPy function
name to NumPy, unwrapping arguments and wrapping results. `np.asarray`, `float`,
`bool` and mixing with NumPy arrays raise TypeError; `.get()` is the explicit
copy to the host, as in CuPy.
"""
import types

import numpy

from ..backend import register_device


def _unwrap(value):
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise TypeError("a NumPy (host) array was mixed with a strict (device) array")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, (numpy.ndarray, numpy.generic)) and not isinstance(value, numpy.dtype):
        return StrictArray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _forward(function):
    def call(*args, **kwargs):
        return _wrap(function(*_unwrap(args), **_unwrap(kwargs)))
    return call


class _Ufunc:
    """A NumPy ufunc that also offers `.at`, `.reduce` (as CuPy's do), on strict arrays."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _forward(self._ufunc)(*args, **kwargs)

    def at(self, a, index, b=None):
        self._ufunc.at(_unwrap(a), _unwrap(index), *(() if b is None else (_unwrap(b),)))

    def __getattr__(self, name):
        return _forward(getattr(self._ufunc, name))


class _StrictModule(types.ModuleType):
    def __getattr__(self, name):
        value = getattr(numpy, name)
        if isinstance(value, numpy.ufunc):
            return _Ufunc(value)
        if isinstance(value, type) or not callable(value):
            return value          # dtypes, constants, classes
        return _forward(value)


strict = _StrictModule("strict", "NumPy behind a device-like wall (see minigrad.testing.strict)")


def _operator(name):
    def method(self, *args):
        return _wrap(getattr(self._a, name)(*_unwrap(args)))
    method.__name__ = name
    return method


class StrictArray:
    """A NumPy array that will not silently become a host array or a Python number."""

    __slots__ = ("_a",)
    __array_ufunc__ = None

    def __init__(self, array):
        self._a = array

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a strict (device) array to NumPy; use .get() or minigrad.to_host")

    def _refuse(self, *args):
        raise TypeError("implicit conversion of a strict (device) array to a Python value; use .get() or .item()")

    __float__ = __int__ = __bool__ = __index__ = __complex__ = __iter__ = _refuse

    def get(self):
        return self._a.copy()

    def item(self):
        return self._a.item()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)   # __array_interface__ and friends: no back doors
        value = getattr(self._a, name)
        return _forward(value) if callable(value) else _wrap(value)

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"


for _name in ("add sub mul truediv floordiv mod pow matmul and or xor lt le gt ge eq ne "
              "radd rsub rmul rtruediv rfloordiv rpow rmatmul iadd isub imul itruediv ipow "
              "neg pos abs invert getitem").split():
    setattr(StrictArray, f"__{_name}__", _operator(f"__{_name}__"))


def _to_strict(array):
    return StrictArray(numpy.array(array, copy=True))


device = register_device("strict", strict, StrictArray, _to_strict, lambda a: a.get())
