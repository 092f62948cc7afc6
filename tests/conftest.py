"""Shared fixtures: every device test runs on NumPy, on the strict CuPy stand-in, and on CUDA if present."""
import os

# The tests use small arrays, for which BLAS threads cost more than they give (about 10x on a
# loaded 2-core machine). Set before NumPy loads OpenBLAS; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy  # noqa: E402
import pytest  # noqa: E402

import minigrad  # noqa: E402
import minigrad.testing.strict  # noqa: F401,E402  (registers the "strict" device)


def _cuda_available():
    try:
        minigrad.get_device("cuda")
        return True
    except minigrad.DeviceError:
        return False


DEVICES = [
    "cpu",
    "strict",
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not _cuda_available(), reason="needs CuPy and a CUDA GPU")]),
]


@pytest.fixture(params=DEVICES)
def device(request):
    """A device name: 'cpu' (NumPy), 'strict' (NumPy that refuses implicit host conversion) or 'cuda'."""
    return request.param


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


@pytest.fixture
def randn(rng, device):
    """randn(*shape, dtype=float64): a standard normal Tensor on the test's device."""
    def make(*shape, dtype=numpy.float64, requires_grad=False):
        return minigrad.tensor(rng.standard_normal(shape).astype(dtype), device=device, requires_grad=requires_grad)
    return make


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """No test reaches the network or the user's data folder: downloads fail as they do offline."""
    import urllib.error
    from models.data import cifar

    def refuse(url):
        raise urllib.error.URLError("the tests have no network")
    monkeypatch.setattr(cifar, "_urlopen", refuse)
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path_factory.mktemp("no-data")))


# --- figures of the test preset reproduced once for the whole session (read them; copy a folder to change it) ---

@pytest.fixture(scope="session")
def fig6_test_sweep(tmp_path_factory):
    """(root, summary): Fig 6 reproduced in-process at the test preset into a fresh folder, its 10 runs trained.
    Shared by tests/analysis/test_reproduction.py and tests/analysis/test_archive.py; no test writes into it."""
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    from analysis.reproduction.reproduce import reproduce
    from analysis.reproduction.sweep import Sweep
    root = tmp_path_factory.mktemp("fig6-test")
    return root, reproduce(FIGURES["fig6"], presets.get("test"), Sweep(str(root)))


@pytest.fixture(scope="session")
def figS3_test_root(tmp_path_factory):
    """A folder with Fig S3 reproduced in-process at the test preset (its four runs trained). Shared by
    tests/test_damage.py and tests/analysis/test_reproduction.py; no test writes into it."""
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    from analysis.reproduction.reproduce import reproduce
    from analysis.reproduction.sweep import Sweep
    root = tmp_path_factory.mktemp("figS3-test")
    reproduce(FIGURES["figS3"], presets.get("test"), Sweep(str(root)))
    return root
