"""The data package: official-format CIFAR tarballs (written here, small), download and checksum
path with a fake opener, augmentation, preprocessing, PCA, the synthetic set, errors.

No test reads a real CIFAR file or the internet.
"""
import dataclasses
import hashlib
import io
import json
import pickle
import re
import struct
import tarfile
import urllib.error
import warnings

import numpy
import pytest

from models import data
from models.data import DataError, DataWarning
from models.data.preprocess import ChannelTransform, add_mirrors, channel_stats, covariance

# Every tarball written here has an unofficial MD5; the tests that care catch the warning.
pytestmark = pytest.mark.filterwarnings("ignore::models.data.DataWarning")

STYLES = ["py2", "py3", "py3-protocol2"]


# ----------------------------------------------------------------------------- writing tarballs

class _Py2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2 'str', as the official CIFAR files were written."""

    def save_bytes(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def _pickle(obj, style):
    """A batch dict pickled like the official files (py2: byte keys, numpy.core names) or Python 3."""
    if style == "py2":
        obj = {k.encode(): v for k, v in obj.items()}
        buf = io.BytesIO()
        _Py2Pickler(buf, protocol=2).dump(obj)
        return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return pickle.dumps(obj, protocol=2 if style == "py3-protocol2" else pickle.HIGHEST_PROTOCOL)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _images(rng, n):
    x = rng.integers(0, 256, (n, 3072), dtype=numpy.uint8)
    # Image 0 has a known pattern: value = 100 * channel + column, so R/G/B planes and
    # left/right are recognisable in any layout.
    x[0] = (100 * numpy.arange(3)[:, None, None] + numpy.arange(32)[None, None, :]
            + numpy.zeros((3, 32, 32), dtype=int)).astype(numpy.uint8).ravel()
    return x


def write_cifar10(folder, style="py2", n=20, batches=2, seed=0, test_n=10):
    """cifar-10-python.tar.gz with ``batches`` training batches of ``n`` images and a test batch."""
    rng = numpy.random.default_rng(seed)
    train = [(_images(rng, n), rng.integers(0, 10, n)) for _ in range(batches)]
    test = (_images(rng, test_n), rng.integers(0, 10, test_n))
    root = "cifar-10-batches-py/"
    members = [(root + f"data_batch_{i + 1}", _pickle({"batch_label": b"training batch",
                                                       "labels": [int(v) for v in y], "data": x,
                                                       "filenames": [b"f.png"] * len(x)}, style))
               for i, (x, y) in enumerate(train)][::-1]  # stored out of order on purpose
    members.append((root + "test_batch", _pickle({"labels": [int(v) for v in test[1]], "data": test[0]}, style)))
    names = [f"class{i}".encode() for i in range(10)]
    members.append((root + "batches.meta", _pickle({"label_names": names, "num_vis": 3072}, style)))
    folder.mkdir(parents=True, exist_ok=True)
    _tar(folder / "cifar-10-python.tar.gz", members)
    return {"train_x": numpy.concatenate([x for x, _ in train]),
            "train_y": numpy.concatenate([y for _, y in train]), "test_x": test[0], "test_y": test[1]}


def write_cifar100(folder, style="py2", n=30, test_n=12, seed=1):
    rng = numpy.random.default_rng(seed)
    out = {}
    members = []
    for split, count in (("train", n), ("test", test_n)):
        x, fine = _images(rng, count), rng.integers(0, 100, count)
        coarse = fine // 5
        members.append((f"cifar-100-python/{split}", _pickle({
            "data": x, "fine_labels": [int(v) for v in fine], "coarse_labels": [int(v) for v in coarse],
            "filenames": [b"f.png"] * count, "batch_label": b"x"}, style)))
        out.update({f"{split}_x": x, f"{split}_fine": fine, f"{split}_coarse": coarse})
    members.append(("cifar-100-python/meta", _pickle({
        "fine_label_names": [f"fine{i}".encode() for i in range(100)],
        "coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}, style)))
    folder.mkdir(parents=True, exist_ok=True)
    _tar(folder / "cifar-100-python.tar.gz", members)
    return out


def raw(name, root, **kw):
    """Bytes exactly as stored: no mirrors, no preprocessing."""
    return data.load(name, root, mirror=False, preprocess="raw", dtype=numpy.uint8, download=False, **kw)


# ----------------------------------------------------------------------------- reading

@pytest.mark.parametrize("style", STYLES)
def test_cifar10_round_trip(tmp_path, style):
    want = write_cifar10(tmp_path, style)
    ds = raw("cifar10", tmp_path)
    numpy.testing.assert_array_equal(ds.train_x, want["train_x"])  # batch 1 then 2, whatever the tar order
    numpy.testing.assert_array_equal(ds.train_y, want["train_y"])
    numpy.testing.assert_array_equal(ds.test_x, want["test_x"])
    numpy.testing.assert_array_equal(ds.test_y, want["test_y"])
    assert ds.train_y.dtype == ds.test_y.dtype == numpy.int64
    assert ds.classes == 10 and ds.label_names[3] == "class3"
    assert ds.info["source"]["official"] is False and ds.info["sizes"]["train"] == 40


@pytest.mark.parametrize("style", STYLES)
def test_cifar100_coarse_by_default_and_fine_on_request(tmp_path, style):
    want = write_cifar100(tmp_path, style)
    coarse, fine = raw("cifar100", tmp_path), raw("cifar100", tmp_path, labels="fine")
    assert (coarse.classes, fine.classes) == (20, 100)
    numpy.testing.assert_array_equal(coarse.train_y, want["train_coarse"])
    numpy.testing.assert_array_equal(coarse.test_y, want["test_coarse"])
    numpy.testing.assert_array_equal(fine.train_y, want["train_fine"])
    numpy.testing.assert_array_equal(fine.test_x, want["test_x"])
    assert coarse.label_names[19] == "coarse19" and fine.label_names[99] == "fine99"
    assert coarse.info["labels"] == "coarse"


def test_channel_major_layout(tmp_path):
    """Flat rows are R plane, G plane, B plane; flatten=False gives (N, 3, 32, 32) of the same bytes."""
    write_cifar10(tmp_path)
    flat, image = raw("cifar10", tmp_path), raw("cifar10", tmp_path, flatten=False)
    assert flat.train_x.shape == (40, 3072) and image.train_x.shape == (40, 3, 32, 32)
    first = image.train_x[0]
    for c in range(3):
        numpy.testing.assert_array_equal(first[c], 100 * c + numpy.arange(32)[None, :].repeat(32, 0))
    numpy.testing.assert_array_equal(flat.train_x[0, 1024:2048], first[1].ravel())  # the G plane


def test_mirroring_adds_flipped_copies_and_leaves_test_alone(tmp_path):
    want = write_cifar10(tmp_path)
    ds = data.load("cifar10", tmp_path, preprocess="raw", dtype=numpy.uint8, flatten=False, download=False)
    n = len(want["train_x"])
    assert ds.train_x.shape == (2 * n, 3, 32, 32) and ds.info["sizes"]["train_original"] == n
    numpy.testing.assert_array_equal(ds.train_x[:n].reshape(n, -1), want["train_x"])
    numpy.testing.assert_array_equal(ds.train_x[n:], ds.train_x[:n, :, :, ::-1])
    numpy.testing.assert_array_equal(ds.train_x[n, 0, 5], 31 - numpy.arange(32))  # image 0, mirrored
    numpy.testing.assert_array_equal(ds.train_y, numpy.concatenate([want["train_y"]] * 2))
    numpy.testing.assert_array_equal(ds.test_x.reshape(len(ds.test_x), -1), want["test_x"])


# ----------------------------------------------------------------------------- preprocessing

def test_channel_stats_are_exact_and_unchanged_by_mirroring():
    x = numpy.random.default_rng(0).integers(0, 256, (50, 3072), dtype=numpy.uint8)
    mean, std = channel_stats(x)
    planes = x.reshape(50, 3, 1024).astype(numpy.float64)
    numpy.testing.assert_allclose(mean, planes.mean(axis=(0, 2)), rtol=1e-12)
    numpy.testing.assert_allclose(std, planes.std(axis=(0, 2)), rtol=1e-12)
    mirrored = channel_stats(add_mirrors(x, numpy.zeros(50, numpy.int64))[0])
    numpy.testing.assert_allclose(mirrored, (mean, std), rtol=1e-12)


@pytest.mark.parametrize("mode", ["standardize", "center", "unit", "raw"])
def test_preprocess_modes_use_training_statistics(tmp_path, mode):
    want = write_cifar10(tmp_path)
    ds = data.load("cifar10", tmp_path, preprocess=mode, dtype=numpy.float64, download=False)
    train = add_mirrors(want["train_x"], want["train_y"])[0].reshape(-1, 3, 1024).astype(numpy.float64)
    mean, std = train.mean(axis=(0, 2)), train.std(axis=(0, 2))
    shift, scale = {"standardize": (mean, 1 / std), "center": (mean, numpy.ones(3)),
                    "unit": (numpy.zeros(3), numpy.full(3, 1 / 255)), "raw": (numpy.zeros(3), numpy.ones(3))}[mode]
    test = want["test_x"].reshape(-1, 3, 1024).astype(numpy.float64)
    expect = ((test - shift[None, :, None]) * scale[None, :, None]).reshape(len(test), -1)
    numpy.testing.assert_allclose(ds.test_x, expect, rtol=1e-10, atol=1e-10)
    planes = ds.train_x.reshape(-1, 3, 1024)
    if mode == "standardize":
        numpy.testing.assert_allclose(planes.mean(axis=(0, 2)), 0, atol=1e-10)
        numpy.testing.assert_allclose(planes.std(axis=(0, 2)), 1, rtol=1e-10)
    if mode == "unit":
        assert ds.train_x.min() >= 0 and ds.train_x.max() <= 1
    numpy.testing.assert_allclose(ds.info["preprocess"]["train_channel_mean"], mean, rtol=1e-12)
    assert ds.info["preprocess"]["mode"] == mode


def test_float32_output_matches_float64(tmp_path):
    write_cifar10(tmp_path)
    f32 = data.load("cifar10", tmp_path, download=False)
    f64 = data.load("cifar10", tmp_path, download=False, dtype=numpy.float64)
    assert f32.train_x.dtype == numpy.float32 and f32.info["dtype"] == "float32"
    numpy.testing.assert_allclose(f32.train_x, f64.train_x, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- PCA

@pytest.fixture(scope="module")
def pca_set():
    return data.load("synthetic", pca=16, synthetic_size=(300, 40), seed=3)


def test_pca_components_are_orthonormal_with_fixed_signs_and_decreasing_variances(pca_set):
    pca = pca_set.pca
    w = pca.components
    assert w.shape == (3072, 16) and pca_set.train_x.shape == (600, 16) and pca_set.test_x.shape == (40, 16)
    numpy.testing.assert_allclose(w.T @ w, numpy.eye(16), atol=1e-10)
    assert numpy.all(w[numpy.abs(w).argmax(axis=0), numpy.arange(16)] > 0)
    variances = pca_set.train_x.astype(numpy.float64).var(axis=0)
    assert numpy.all(numpy.diff(variances) <= 1e-6 * variances[0])
    numpy.testing.assert_allclose(variances, pca.explained_variance, rtol=1e-4)
    numpy.testing.assert_allclose(pca_set.train_x.mean(axis=0), 0, atol=1e-4)
    ratio = pca_set.info["pca"]["explained_variance_ratio"]
    assert 0 < sum(ratio) < 1 and len(ratio) == 16
    # standardized: unit variance per channel, less the spread of the per-pixel means
    assert 0.99 * 3072 < pca.total_variance <= 3072


def test_pca_is_fitted_on_training_data_only(pca_set):
    """A different test set (the synthetic test set has its own random stream) leaves the fit alone."""
    other = data.load("synthetic", pca=16, synthetic_size=(300, 90), seed=3)
    numpy.testing.assert_array_equal(other.train_x, pca_set.train_x)
    numpy.testing.assert_array_equal(other.pca.components, pca_set.pca.components)
    raw_test = data.make_synthetic(300, 90, seed=3).test_x
    transform = ChannelTransform.fit("standardize", add_mirrors(data.make_synthetic(300, 90, seed=3).train_x,
                                                                numpy.zeros(300, numpy.int64))[0])
    expect = (transform.apply(raw_test, numpy.float64) - other.pca.mean) @ other.pca.components
    numpy.testing.assert_allclose(other.test_x, expect, rtol=1e-4, atol=1e-4)


def test_mirror_shortcut_gives_the_covariance_of_all_rows():
    x = numpy.random.default_rng(0).integers(0, 256, (60, 3072), dtype=numpy.uint8)
    both = add_mirrors(x, numpy.zeros(60, numpy.int64))[0]
    transform = ChannelTransform.fit("center", both)
    mean_fast, cov_fast = covariance(both, transform, mirrored=True)
    mean_full, cov_full = covariance(both, transform, mirrored=False)
    numpy.testing.assert_allclose(mean_fast, mean_full, atol=1e-9)
    numpy.testing.assert_allclose(cov_fast, cov_full, atol=1e-8)


def test_whitened_projection_has_unit_variance(pca_set):
    whitened = dataclasses.replace(pca_set.pca, whiten=True)
    raw_train = add_mirrors(data.make_synthetic(300, 40, seed=3).train_x, numpy.zeros(300, numpy.int64))[0]
    transform = ChannelTransform.fit("standardize", raw_train)
    numpy.testing.assert_allclose(whitened.project(raw_train, transform, numpy.float64).var(axis=0), 1, rtol=1e-6)


# ----------------------------------------------------------------------------- synthetic

def test_synthetic_is_deterministic_and_shaped_like_cifar():
    a, b = data.load("synthetic", seed=5), data.load("synthetic", seed=5)
    c = data.load("synthetic", seed=6, synthetic_classes=7, synthetic_size=(70, 14))
    numpy.testing.assert_array_equal(a.train_x, b.train_x)
    numpy.testing.assert_array_equal(a.test_y, b.test_y)
    assert a.train_x.shape == (4000, 3072) and a.test_x.shape == (500, 3072) and a.classes == 20
    assert c.classes == 7 and c.train_x.shape == (140, 3072) and numpy.bincount(c.test_y).tolist() == [2] * 7
    assert not numpy.array_equal(a.test_x, data.load("synthetic", seed=6).test_x)
    assert data.make_synthetic().train_x.dtype == numpy.uint8


def test_synthetic_is_learnable():
    ds = data.load("synthetic", mirror=False)
    means = numpy.stack([ds.train_x[ds.train_y == c].mean(axis=0) for c in range(ds.classes)])
    distances = ((ds.test_x[:, None, :] - means[None]) ** 2).sum(axis=-1)
    accuracy = (distances.argmin(axis=1) == ds.test_y).mean()
    assert accuracy > 0.8  # chance is 0.05


# ----------------------------------------------------------------------------- download and checksum

class _Response(io.BytesIO):
    def __init__(self, payload, length=None):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload) if length is None else length)}


def _opener(payload, calls, length=None):
    def open_(url):
        calls.append(url)
        return _Response(payload, length)
    return open_


def _tarball_bytes(tmp_path):
    write_cifar10(tmp_path / "source")
    return (tmp_path / "source" / "cifar-10-python.tar.gz").read_bytes()


def test_download_with_unofficial_checksum_warns_and_is_used(tmp_path):
    payload, calls = _tarball_bytes(tmp_path), []
    folder = tmp_path / "fresh" / "cache"
    with pytest.warns(DataWarning, match="cifar-10-python.tar.gz is not the official CIFAR-10 release"):
        ds = data.load("cifar10", folder, opener=_opener(payload, calls), progress=False)
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert [p.name for p in folder.iterdir()] == ["cifar-10-python.tar.gz"]  # no temporary left
    assert ds.info["source"]["md5"] == hashlib.md5(payload).hexdigest() and not ds.info["source"]["official"]
    assert ds.train_x.shape == (80, 3072)


def test_matching_checksum_gives_no_warning(tmp_path, monkeypatch):
    payload, calls = _tarball_bytes(tmp_path), []
    official = dataclasses.replace(data.cifar.SOURCES["cifar10"], md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(data.cifar.SOURCES, "cifar10", official)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = data.load("cifar10", tmp_path / "cache", opener=_opener(payload, calls), progress=False)
    assert ds.info["source"]["official"] is True and len(calls) == 1
    data.load("cifar10", tmp_path / "cache", opener=_opener(payload, calls), progress=False)
    assert len(calls) == 1  # found, not downloaded again


def test_interrupted_download_leaves_nothing_behind(tmp_path):
    payload = _tarball_bytes(tmp_path)
    folder = tmp_path / "cache"
    with pytest.raises(DataError, match="closed after"):
        data.load("cifar10", folder, opener=_opener(payload[:1000], [], length=len(payload)), progress=False)
    assert list(folder.iterdir()) == []


def test_no_internet_says_where_it_looked_and_how_to_get_the_data(tmp_path):
    def offline(url):
        raise urllib.error.URLError("Name or service not known")
    folder = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        data.load("cifar100", folder, opener=offline)
    message = str(err.value)
    for part in (str(folder), "cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "SKIP_SINGULARITIES_DATA", "Name or service not known", "chosen by --data-dir"):
        assert part in message
    assert message.count(". ") == 0 and not folder.exists()


def test_missing_data_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError, match=r"env.*SKIP_SINGULARITIES_DATA.*--no-download.*official cifar-10") as err:
        data.load("cifar10", download=False)
    assert "$SKIP_SINGULARITIES_DATA" in str(err.value)


def test_data_folder_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path / "env"))
    assert data.data_root()[0] == tmp_path / "env"
    assert data.data_root(tmp_path / "arg")[0] == tmp_path / "arg"
    monkeypatch.delenv("SKIP_SINGULARITIES_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_root()[0] == tmp_path / "home" / ".cache" / "skip-singularities"
    write_cifar10(tmp_path / "env")
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path / "env"))
    assert data.load("cifar10", download=False).info["source"]["file"] == str(tmp_path / "env" / "cifar-10-python.tar.gz")


# ----------------------------------------------------------------------------- broken tarballs

def _broken(tmp_path, payload):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(payload)
    with pytest.raises(DataError) as err, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        data.load("cifar10", tmp_path, download=False)
    assert not seen  # the error alone, no checksum warning before it
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(err.value)
    assert err.value.__cause__ is None  # no tarfile/pickle traceback chained to it
    assert err.value.__context__ is None or err.value.__suppress_context__
    return str(err.value)


def test_truncated_tarball(tmp_path):
    payload = _tarball_bytes(tmp_path)
    assert "is not a readable CIFAR-10 tarball" in _broken(tmp_path, payload[:len(payload) // 2])


def test_garbage_file(tmp_path):
    assert "is not a readable CIFAR-10 tarball" in _broken(tmp_path, b"<html>Not Found</html>" * 100)


def _tar_bytes(tmp_path, members):
    return _tar(tmp_path / "built.tar.gz", members).read_bytes()


def test_missing_members(tmp_path):
    batch = _pickle({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": [0, 1]}, "py3")
    message = _broken(tmp_path, _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1", batch)]))
    assert "lacks cifar-10-batches-py/test_batch" in message


def test_wrong_shapes_and_labels(tmp_path):
    good = _pickle({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": [0, 1]}, "py3")
    for bad, reason in [({"data": numpy.zeros((2, 3000), numpy.uint8), "labels": [0, 1]}, "not \\(N, 3072\\) uint8"),
                        ({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": [0, 10]}, r"labels must be .* \[0, 10\)"),
                        ({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": [0]}, "2 training images but 1 labels"),
                        ({"labels": [0, 1]}, "KeyError")]:
        payload = _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1", _pickle(bad, "py3")),
                                        ("cifar-10-batches-py/test_batch", good)])
        message = _broken(tmp_path, payload)
        assert "does not hold CIFAR-10 in the official layout" in message
        assert re.search(reason, message), message


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))
    payload = _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1", pickle.dumps({"data": Evil()}))])
    assert "refusing to unpickle builtins.print" in _broken(tmp_path, payload)


def test_a_pickle_that_declares_a_terabyte_is_a_damaged_file(tmp_path):
    """A few hundred bytes can ask for 10^12 bytes: refused by size before anything is allocated, and a
    MemoryError the unpickler raises itself (a bytes opcode's declared length) is a damaged file too."""
    reconstruct = numpy.zeros(0).__reduce__()[0]               # NumPy's own _reconstruct, as its pickles name it

    class Huge:
        def __init__(self, *args):
            self.args = args

        def __reduce__(self):
            return self.args
    test = ("cifar-10-batches-py/test_batch", _pickle({"data": numpy.zeros((1, 3072), numpy.uint8), "labels": [0]},
                                                      "py3"))
    cases = [(Huge(reconstruct, (numpy.ndarray, (10 ** 12,), b"b")), "declares an array of 1,000,000,000,000 bytes"),
             (Huge(numpy.ndarray, ((10 ** 6, 10 ** 6), "u1")), "declares an array of 1,000,000,000,000 bytes"),
             (Huge(bytearray, (10 ** 12,)), "declares a buffer of 1,000,000,000,000 bytes")]
    for huge, reason in cases:
        payload = _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1",
                                         pickle.dumps({"data": huge, "labels": [0]}, protocol=2)), test])
        assert len(payload) < 1000
        message = _broken(tmp_path, payload)
        assert "is not a readable CIFAR-10 tarball" in message and reason in message, message
    opcode = b"\x80\x04\x8e" + struct.pack("<Q", 10 ** 12) + b"."     # BINBYTES8 of 10^12 bytes, then nothing
    message = _broken(tmp_path, _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1", opcode), test]))
    assert "is not a readable CIFAR-10 tarball (it asks for more memory than this machine has" in message


def test_labels_that_are_not_integers_are_refused(tmp_path):
    """A label 0.5 was cast to class 0; a label must be an integer in range, not a number that rounds to one."""
    good = _pickle({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": [0, 1]}, "py3")
    for labels in ([0.5, 1], [0.0, 1.0], ["0", "1"]):
        bad = _pickle({"data": numpy.zeros((2, 3072), numpy.uint8), "labels": labels}, "py3")
        payload = _tar_bytes(tmp_path, [("cifar-10-batches-py/data_batch_1", bad), ("cifar-10-batches-py/test_batch", good)])
        message = _broken(tmp_path, payload)
        assert "does not hold CIFAR-10 in the official layout" in message
        assert "labels must be a list of integers in [0, 10)" in message


# ----------------------------------------------------------------------------- options and helpers

@pytest.mark.parametrize("kwargs, match", [
    ({"name": "mnist"}, "unknown data set 'mnist'; choose one of cifar10, cifar100, synthetic"),
    ({"labels": "medium"}, "unknown labels 'medium'; choose one of coarse, fine"),
    ({"preprocess": "whiten"}, "unknown preprocess 'whiten'; choose one of standardize, center, unit, raw"),
    ({"pca": 0}, "pca must be None or a number of components from 1 to 3072"),
    ({"pca": 8, "flatten": False}, "pca gives vectors"),
    ({"dtype": numpy.int32}, "dtype int32 is not allowed"),
    ({"dtype": numpy.uint8}, "uint8 only with preprocess='raw'"),
    ({"name": "cifar10", "synthetic_size": (10, 10)}, "synthetic_size applies only"),
])
def test_unknown_options_are_one_clear_sentence(tmp_path, kwargs, match):
    kwargs = {"name": "synthetic", **kwargs}
    with pytest.raises(DataError, match=match.replace("(", r"\(").replace(")", r"\)")):
        data.load(kwargs.pop("name"), tmp_path, download=False, **kwargs)


def test_names_are_forgiving_and_info_is_json(pca_set):
    ds = data.load("Synthetic", synthetic_size=(40, 20), labels="fine")
    assert ds.name == "synthetic" and ds.info["labels"] is None and ds.input_shape == (3072,)
    assert "synthetic: 20 classes" in ds.describe()
    json.dumps(ds.info)
    json.dumps(pca_set.info)
    assert "PCA to 16 dimensions" in pca_set.describe() and pca_set.input_shape == (16,)


def test_batches_cover_every_example_once_and_keep_the_last_partial_batch():
    parts = list(data.batches(1050, 500, numpy.random.default_rng(0)))
    assert [len(p) for p in parts] == [500, 500, 50]
    assert sorted(numpy.concatenate(parts).tolist()) == list(range(1050))
    again = list(data.batches(1050, 500, numpy.random.default_rng(0)))
    assert all(numpy.array_equal(a, b) for a, b in zip(parts, again))
    assert not numpy.array_equal(parts[0], numpy.arange(500))
    assert list(data.batches(0, 10, 0)) == []
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.batches(10, 0, 0)


def test_subset_keeps_a_prefix_of_originals_then_mirrors():
    full = data.load("synthetic", synthetic_size=(60, 20), seed=2, mirror=False, preprocess="raw")
    part = data.load("synthetic", synthetic_size=(60, 20), seed=2, subset=(10, 5), preprocess="raw")
    assert part.train_x.shape[0] == 20 and part.test_x.shape[0] == 5
    numpy.testing.assert_array_equal(part.train_x[:10], full.train_x[:10])
    numpy.testing.assert_array_equal(part.test_y, full.test_y[:5])
    assert part.info["sizes"]["subset"] == [10, 5]
    with pytest.raises(DataError, match="more than"):
        data.load("synthetic", synthetic_size=(60, 20), subset=(61, 5))
    with pytest.raises(DataError, match="two positive integers"):
        data.load("synthetic", subset=(0, 5))
