"""A device is resolved once: where a name enters (train, fresh_net); below, the Device is passed on."""
import numpy
import pytest

import minigrad as mg
from minigrad import backend

from analysis.sources import fresh_net
from analysis.spectra import HessianOperator
from analysis.spectra.exact import exact_spectrum
from analysis.spectra.moments import estimate_moments
from analysis.spectra.slq import slq_spectrum
from models.training import TrainConfig, train, train_ensemble

SMALL_DATA = {"name": "synthetic", "synthetic_size": [60, 20], "synthetic_classes": 3, "pca": 8}
MODEL = {"arch": "mlp", "skip": "residual", "depth": 3, "width": 6}


@pytest.fixture
def lookups(monkeypatch):
    """The names the one resolver (mg.get_device) looks up, in order."""
    seen, real = [], backend._resolve
    monkeypatch.setattr(backend, "_resolve", lambda name: seen.append(name) or real(name))
    return seen


@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_training_resolves_its_device_once(tmp_path, lookups, device):
    config = TrainConfig(model=dict(MODEL), data=dict(SMALL_DATA), epochs=1, batch_size=20, seed=1, device=device)
    summary = train(config, str(tmp_path / "run"))
    assert summary["status"] == "finished" and lookups == [device]
    assert '"device": "%s"' % device in (tmp_path / "run" / "config.json").read_text()   # the name, as given
    del lookups[:]
    configs = [TrainConfig(model=dict(MODEL), data=dict(SMALL_DATA), epochs=1, batch_size=20, seed=s, device=device)
               for s in (1, 2)]
    train_ensemble(configs, [str(tmp_path / "a"), str(tmp_path / "b")])
    assert lookups == [device]                             # once for the ensemble, not once per member


@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_a_spectrum_resolves_its_device_once(lookups, device):
    model, x, y, _ = fresh_net(dict(MODEL), dict(SMALL_DATA), "residual", 30, device=device)
    assert lookups == [device] and model.device.name == device
    operator = HessianOperator(model, x, y)
    assert operator.device is model.device
    slq_spectrum(operator, steps=5, probes=2)
    estimate_moments(operator, probes=2)
    exact_spectrum(operator)
    assert lookups == [device]                             # the operator carries the model's Device
    del lookups[:]
    fresh_net(dict(MODEL), dict(SMALL_DATA), "residual", 30, device=mg.get_device(device))
    assert lookups == [device]                             # the caller's lookup; a Device given is not looked up


def test_training_takes_a_device_resolved_already(tmp_path, lookups):
    """The CLI resolves --device once and hands the Device on; the run's config.json keeps the name."""
    strict_device = mg.get_device("strict")
    del lookups[:]
    config = TrainConfig(model=dict(MODEL), data=dict(SMALL_DATA), epochs=1, batch_size=20, seed=1, device="strict")
    assert train(config, str(tmp_path / "run"), device=strict_device)["status"] == "finished" and lookups == []
    assert '"device": "strict"' in (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(ValueError, match="not 'cpu'"):
        train(config, str(tmp_path / "other"), device=mg.get_device("cpu"))
