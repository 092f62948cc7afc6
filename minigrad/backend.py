"""Where arrays live: NumPy on the CPU, CuPy on CUDA, and any stand-in a test registers.

Every op finds its array module with `get_array_module(array)` and calls only
`xp.<function>`, never `numpy.<function>`, so the same code runs on either
device. Moving data between devices is always explicit (`to_device`, `to_host`):
CuPy refuses implicit conversion and so do we.

CuPy is optional. It is imported lazily, the first time a CUDA device is asked
for, so `import minigrad` never pays for it and a machine without it only hears
about it when it asks for `cuda`.
"""
import os
import platform

import numpy


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot provide (one sentence, for users)."""


def device_kind(device):
    """The kind of a device ('cuda' for 'cuda:0'; a Device's own kind): what code compares to pick a device's
    settings, never its spelling. Asking creates nothing, so it needs no CuPy and no GPU."""
    if isinstance(device, Device):
        return device.kind
    return str(device).split(":")[0]


class Device:
    """A named place for arrays: its array module `xp` and how arrays get there and back."""

    def __init__(self, name, xp, array_type, to_device, to_host, synchronize=None):
        self.name, self.xp, self.array_type = name, xp, array_type
        self.kind = device_kind(name)   # 'cpu', 'cuda' or a stand-in's name: what to compare, never the spelling
        self._to_device, self._to_host = to_device, to_host
        self._synchronize = synchronize

    def synchronize(self):
        """Wait until the work queued on this device is done (a GPU runs asynchronously; time it only so)."""
        if self._synchronize is not None:
            self._synchronize()

    def __repr__(self):
        return f"Device({self.name!r})"

    # one Device per kind: a copy (deepcopy of a model that carries it, a pickle) is the registered one itself
    def __reduce__(self):
        return get_device, (self.name,)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


_devices = {}
_module_of_type = {}   # exact array type -> array module: one dict lookup per op


def register_device(name, xp, array_type, to_device, to_host, synchronize=None):
    """Make `name` usable as a device (tests register a strict CPU stand-in for CuPy)."""
    _devices[name] = Device(name, xp, array_type, to_device, to_host, synchronize)
    _module_of_type[array_type] = xp
    return _devices[name]


CPU = register_device("cpu", numpy, numpy.ndarray, numpy.asarray, lambda a: a)   # the default, needing no lookup


def _register_cuda():
    try:
        import cupy
    except ImportError:
        raise DeviceError("CUDA was requested but CuPy is not installed; from the checkout, install it with: "
                          'python -m pip install -e ".[cuda]"') from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy raises its own runtime error types when there is no driver
        count = 0
    if count == 0:
        raise DeviceError("CUDA was requested but no CUDA GPU is visible on this machine.")
    return register_device("cuda", cupy, cupy.ndarray, cupy.asarray, cupy.asnumpy,
                           lambda: cupy.cuda.get_current_stream().synchronize())


def get_device(device):
    """The one resolver of devices: the Device for a name ('cpu', 'cuda', 'cuda:0' -- any cuda:N is the one
    'cuda' Device), or a Device itself, returned as it is; a DeviceError in one sentence otherwise.

    A name is resolved once, where it enters (the CLI, or the public function a library user calls with
    one); the Device is passed on from there, so code below never looks a name up again."""
    if isinstance(device, Device):
        return device
    return _resolve(device)


def _resolve(device):
    """The Device a name spells (get_device's lookup; the tests count its calls)."""
    name = device_kind(device)
    if name in _devices:
        return _devices[name]
    if name == "cuda":
        return _register_cuda()
    known = ", ".join(sorted(set(_devices) | {"cuda"}))
    raise DeviceError(f"Unknown device {device!r}; choose one of: {known}.")


def get_array_module(array):
    """The array module (numpy, cupy, ...) that owns `array`."""
    xp = _module_of_type.get(type(array))
    if xp is not None:
        return xp
    for device in _devices.values():  # subclasses and NumPy scalars: rare, so a slow path
        if isinstance(array, device.array_type):
            return device.xp
    return numpy if isinstance(array, numpy.generic) else _raise_unknown(array)


def _raise_unknown(array):
    raise TypeError(f"minigrad does not know where an array of type {type(array).__name__} lives")


def device_of(array):
    """The Device that owns `array`."""
    xp = get_array_module(array)
    return next(d for d in _devices.values() if d.xp is xp)


def to_device(array, device):
    """Copy a host (or any) array to `device`; a no-op when it is already there."""
    device = get_device(device)
    if _module_of_type.get(type(array)) is device.xp:
        return array
    return device._to_device(to_host(array))


def describe(device):
    """The hardware behind `device`, in words ("CPU: AMD EPYC 7B13 (2 cores)", "GPU: NVIDIA H200"): what a
    run records of where it was computed, since the last bits of its numbers depend on it."""
    device = get_device(device)
    if device.kind == "cuda":
        try:      # a name is a record, never worth failing a finished run for
            name = device.xp.cuda.runtime.getDeviceProperties(device.xp.cuda.Device().id)["name"]
        except Exception:
            return "GPU: (its name could not be read)"
        return "GPU: " + (name.decode() if isinstance(name, bytes) else str(name))
    if device.xp is not numpy:
        return device.name
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"CPU: {model or platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def to_host(array):
    """An explicit copy to a NumPy array (the only sanctioned device-to-host path)."""
    if isinstance(array, (numpy.ndarray, numpy.generic)):
        return numpy.asarray(array)
    return device_of(array)._to_host(array)


def to_float(array):
    """A one-element array (any device) as a Python float: an explicit device-to-host copy."""
    return float(to_host(array))

