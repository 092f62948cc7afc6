"""Devices: dispatch, explicit transfers, clear errors, and the strict stand-in that catches host leaks."""
import pathlib
import re
import sys

import numpy
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.testing.strict import StrictArray, strict

from .nets import ResidualMLP

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_array_module_dispatch():
    assert mg.get_array_module(numpy.ones(2)) is numpy
    assert mg.get_array_module(numpy.float32(1.0)) is numpy
    assert mg.get_array_module(mg.to_device(numpy.ones(2), "strict")) is strict


def test_unknown_device_is_one_clear_sentence():
    with pytest.raises(mg.DeviceError, match=r"^Unknown device 'tpu'; choose one of: .*cpu.*cuda.*\.$"):
        mg.get_device("tpu")


def test_cuda_without_cupy_or_gpu_is_one_clear_sentence():
    try:
        mg.get_device("cuda")
    except mg.DeviceError as e:
        message = str(e)
        assert "\n" not in message and message.startswith("CUDA was requested but")
    else:
        pytest.skip("a CUDA device is available here")


def test_cuda_without_cupy_names_the_checkouts_install_command(monkeypatch):
    """The package is not on any index: the hint is the checkout's editable install with the cuda extra."""
    monkeypatch.setitem(sys.modules, "cupy", None)                   # `import cupy` raises ImportError
    monkeypatch.delitem(backend._devices, "cuda", raising=False)      # on a GPU machine: as if never asked for
    with pytest.raises(mg.DeviceError) as raised:
        mg.get_device("cuda:0")
    assert 'python -m pip install -e ".[cuda]"' in str(raised.value) and "\n" not in str(raised.value)


def test_a_devices_kind_comes_from_its_spelling_without_creating_it(monkeypatch):
    """cuda:0 is a cuda device: code that picks settings by device asks its kind, which needs no CuPy or GPU."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.delitem(backend._devices, "cuda", raising=False)
    assert [mg.device_kind(d) for d in ("cpu", "cuda", "cuda:0", "cuda:1", "strict")] == \
        ["cpu", "cuda", "cuda", "cuda", "strict"]
    assert [mg.get_device(d).kind for d in ("cpu", "strict")] == ["cpu", "strict"]
    assert mg.device_kind(mg.get_device("strict")) == "strict"


def test_each_device_describes_its_hardware(device):
    expected = {"cpu": r"CPU: .+ \(\d+ cores\)", "strict": "strict", "cuda": r"GPU: .+"}[device]
    assert re.fullmatch(expected, mg.describe(device))


def test_strict_array_refuses_implicit_host_conversion():
    a = mg.to_device(numpy.arange(3.0), "strict")
    with pytest.raises(TypeError):
        numpy.asarray(a)
    with pytest.raises(TypeError):
        numpy.exp(a)
    with pytest.raises(TypeError):
        float(a.sum())
    with pytest.raises(TypeError):
        bool(a.sum() > 0)
    with pytest.raises(TypeError):
        a + numpy.ones(3)            # mixing host and device arrays
    assert isinstance(a + 1.0, StrictArray)
    numpy.testing.assert_array_equal(a.get(), [0.0, 1.0, 2.0])   # the explicit way back
    assert mg.to_host(a * 2).tolist() == [0.0, 2.0, 4.0]


def test_tensor_round_trip_between_devices():
    t = mg.tensor([[1.0, 2.0]], device="strict")
    assert isinstance(t.data, StrictArray) and t.device.name == "strict"
    back = t.to("cpu")
    assert isinstance(back.data, numpy.ndarray) and back.numpy().tolist() == [[1.0, 2.0]]


def test_module_to_device_and_state_dict_on_host(rng):
    model = ResidualMLP(inputs=6, width=4, depth=3, classes=2, rng=0, dtype=numpy.float64).to("strict")
    assert all(isinstance(p.data, StrictArray) for p in model.parameters())
    state = model.state_dict()
    assert all(isinstance(v, numpy.ndarray) for v in state.values())
    assert model.device.name == "strict"


def test_same_seed_gives_identical_weights_on_every_device():
    a = ResidualMLP(inputs=6, width=4, depth=3, classes=2, rng=7).state_dict()
    b = ResidualMLP(inputs=6, width=4, depth=3, classes=2, rng=7).to("strict").state_dict()
    assert all(numpy.array_equal(a[k], b[k]) for k in a)


def test_ops_never_name_numpy():
    """Ops and layer functions take their array module from the data (xp), never from `numpy` directly."""
    for path in sorted((ROOT / "minigrad").glob("*/*.py")):
        if path.parent.name in ("ops", "functional", "optim"):
            source = path.read_text()
            assert not re.search(r"^\s*(import numpy|from numpy)", source, re.M), path
            assert not re.search(r"\bnp\.|\bnumpy\.", source), path


def test_synchronize_waits_on_the_devices_own_queue():
    """cpu and strict have nothing queued; a device registered with a wait function gets it called."""
    from minigrad.backend import register_device
    assert mg.get_device("cpu").synchronize() is None and mg.get_device("strict").synchronize() is None
    calls = []
    device = register_device("queued", numpy, numpy.ndarray, numpy.asarray, lambda a: a, lambda: calls.append(1))
    try:
        device.synchronize()
        device.synchronize()
        assert calls == [1, 1]
    finally:
        from minigrad import backend
        del backend._devices["queued"]
        register_device("cpu", numpy, numpy.ndarray, numpy.asarray, lambda a: a)   # numpy arrays belong to cpu again


def test_one_resolver_maps_names_and_devices(monkeypatch):
    """get_device is the one resolver: a Device comes back as it is (no lookup), 'cpu' is the CPU Device, and
    'cuda:0' is 'cuda' -- the same Device, or (no CuPy or GPU here) the same one-sentence error."""
    cpu = mg.get_device("cpu")
    assert isinstance(cpu, mg.Device) and cpu.kind == "cpu" and cpu.xp is numpy and backend.CPU.xp is numpy
    lookups = []
    real = backend._resolve
    monkeypatch.setattr(backend, "_resolve", lambda name: lookups.append(name) or real(name))
    assert mg.get_device(cpu) is cpu and mg.get_device(mg.get_device("strict")).name == "strict"
    assert lookups == ["strict"]                          # a Device is passed on, never looked up again

    def outcome(name):
        try:
            return mg.get_device(name)
        except mg.DeviceError as e:
            return str(e)
    assert outcome("cuda:0") == outcome("cuda") and (isinstance(outcome("cuda"), mg.Device)
                                                       or outcome("cuda").startswith("CUDA was requested but"))
    assert mg.device_kind(mg.get_device("strict")) == "strict"


def test_a_device_survives_copies_as_itself():
    """A model carries its Device: copying the model (deepcopy, pickle) keeps the one registered Device."""
    import copy
    import pickle
    strict_device = mg.get_device("strict")
    assert copy.deepcopy(strict_device) is strict_device and pickle.loads(pickle.dumps(strict_device)) is strict_device
    model = ResidualMLP(inputs=6, width=4, depth=3, classes=2, rng=0, dtype=numpy.float64).to(strict_device)
    assert copy.deepcopy(model).device is strict_device
    assert ResidualMLP(inputs=6, width=4, depth=3, classes=2, rng=0).device.kind == "cpu"     # never moved: where it is
