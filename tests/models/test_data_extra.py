"""SVHN and STL-10: tiny files written here in the official formats (MATLAB files for SVHN, a binary
tarball for STL-10), read by data.load; labels, orientation, downsampling, checksums, errors, Fig S7.

No test reads a real SVHN or STL-10 file or the internet: every load passes download=False, a
fake opener, or finds its files in place, and an autouse fixture makes any real download fail.
"""
import dataclasses
import hashlib
import io
import json
import re
import urllib.error
import warnings

import numpy
import pytest
import scipy.io

from models import data
from models.data import DataError, DataWarning
from .test_data import _tar

# Every file written here has an unofficial MD5; the tests that care catch the warning.
pytestmark = pytest.mark.filterwarnings("ignore::models.data.DataWarning")

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
STL_URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    def refuse(url):
        raise AssertionError(f"a test tried to download {url}")
    monkeypatch.setattr(data.cifar, "_urlopen", refuse)


# ----------------------------------------------------------------------------- writing official-format files

def _pattern(side):
    """One (3, side, side) uint8 image that shows channel, row and column: R = step·row, B = step·column
    (step = 8 for 32 pixels, 2 for 96, so they fit a byte), G black but for marks placed by the caller."""
    step = 256 // side
    rows = numpy.arange(side)[:, None].repeat(side, 1)
    image = numpy.zeros((3, side, side), dtype=numpy.uint8)
    image[0], image[2] = step * rows, step * rows.T
    return image


def svhn_images(rng, n):
    """(n, 3, 32, 32) images (channel, row, column); image 0 is the pattern with a white dot at row 2, column 5."""
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=numpy.uint8)
    x[0] = _pattern(32)
    x[0, 1, 2, 5] = 255
    return x


def write_svhn_file(path, images, digits):
    """A MATLAB file as published: X (32, 32, 3, N) uint8 (row, column, channel, image), y (N, 1) with 10 for 0."""
    labels = numpy.where(digits == 0, 10, digits).astype(numpy.uint8).reshape(-1, 1)
    scipy.io.savemat(str(path), {"X": numpy.ascontiguousarray(images.transpose(2, 3, 1, 0)), "y": labels})
    return path


def write_svhn(folder, n_train=30, n_test=20, seed=0):
    rng = numpy.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        digits = numpy.arange(n) % 10          # every digit, 0 included (stored as 10)
        rng.shuffle(digits)
        images = svhn_images(rng, n)
        write_svhn_file(folder / f"{split}_32x32.mat", images, digits)
        out[f"{split}_x"], out[f"{split}_y"] = images, digits
    return out


def stl_images(rng, n):
    """(n, 3, 96, 96) images (channel, row, column); image 0 is the pattern with a white 3x3 block at
    rows 6-8, columns 15-17 (one pooled pixel: row 2, column 5) and a single 100 at row 0, column 3."""
    x = rng.integers(0, 256, (n, 3, 96, 96), dtype=numpy.uint8)
    x[0] = _pattern(96)                 # R = 2·row, B = 2·column
    x[0, 1, 6:9, 15:18] = 255
    x[0, 1, 0, 3] = 100
    return x


def stl_bytes(images):
    """The official layout: per image, per channel, the 96x96 matrix column by column."""
    return b"".join(channel.tobytes(order="F") for image in images for channel in image)


def write_stl10(folder, n_train=12, n_test=8, seed=0, unlabeled=b"", first=(), last=()):
    """stl10_binary.tar.gz with the four labelled members (plus unlabeled_X.bin and class_names.txt at the end)."""
    rng = numpy.random.default_rng(seed)
    out, members = {}, list(first)
    for split, n in (("test", n_test), ("train", n_train)):
        images, labels = stl_images(rng, n), rng.permutation(numpy.arange(n) % 10)
        members += [(f"stl10_binary/{split}_X.bin", stl_bytes(images)),
                    (f"stl10_binary/{split}_y.bin", (labels + 1).astype(numpy.uint8).tobytes())]
        out[f"{split}_x"], out[f"{split}_y"] = images, labels
    members += [("stl10_binary/unlabeled_X.bin", unlabeled),
                ("stl10_binary/class_names.txt", "\n".join(data.stl10.LABEL_NAMES).encode()), *last]
    folder.mkdir(parents=True, exist_ok=True)
    _tar(folder / "stl10_binary.tar.gz", members)
    return out


def pooled(images):
    """3x3 block means rounded, computed the slow and obvious way."""
    n = len(images)
    return numpy.rint(images.reshape(n, 3, 32, 3, 32, 3).astype(numpy.float64).mean(axis=(3, 5))).astype(numpy.uint8)


def raw(name, root, **kw):
    """Bytes as the loader makes them: no mirrors, no preprocessing, images (N, 3, 32, 32)."""
    kw = {"mirror": False, "preprocess": "raw", "dtype": numpy.uint8, "flatten": False, **kw}
    return data.load(name, root, download=False, **kw)


# ----------------------------------------------------------------------------- SVHN

def test_svhn_labels_are_digits_and_images_keep_their_orientation(tmp_path):
    want = write_svhn(tmp_path)
    ds = raw("svhn", tmp_path)
    assert ds.classes == 10 and ds.label_names == tuple("0123456789")
    numpy.testing.assert_array_equal(ds.train_y, want["train_y"])     # 10 -> 0, others unchanged
    numpy.testing.assert_array_equal(ds.test_y, want["test_y"])
    assert ds.train_y.dtype == numpy.int64 and 0 in ds.train_y and ds.train_y.max() == 9
    numpy.testing.assert_array_equal(ds.train_x, want["train_x"])
    numpy.testing.assert_array_equal(ds.test_x, want["test_x"])
    first = ds.train_x[0]
    numpy.testing.assert_array_equal(first[0], 8 * numpy.arange(32)[:, None].repeat(32, 1))   # R grows down the rows
    numpy.testing.assert_array_equal(first[2], 8 * numpy.arange(32)[None, :].repeat(32, 0))   # B along the columns
    assert first[1, 2, 5] == 255 and first[1].sum() == 255                                     # the dot, not transposed
    flat = raw("svhn", tmp_path, flatten=True)
    assert flat.train_x.shape == (30, 3072)
    numpy.testing.assert_array_equal(flat.train_x[0, 1024:2048], first[1].ravel())             # channel-major rows


def test_svhn_is_not_mirrored_unless_asked(tmp_path):
    want = write_svhn(tmp_path)
    plain = data.load("svhn", tmp_path, preprocess="raw", dtype=numpy.uint8, flatten=False, download=False)
    assert plain.info["mirror"] is False and len(plain.train_x) == 30 and plain.info["sizes"]["train_original"] == 30
    mirrored = data.load("svhn", tmp_path, mirror=True, preprocess="raw", dtype=numpy.uint8, flatten=False,
                         download=False)
    assert mirrored.info["mirror"] is True and mirrored.train_x.shape == (60, 3, 32, 32)
    numpy.testing.assert_array_equal(mirrored.train_x[30:], want["train_x"][..., ::-1])
    numpy.testing.assert_array_equal(mirrored.train_y, numpy.concatenate([want["train_y"]] * 2))
    assert data.MIRROR_DEFAULT["svhn"] is False and data.MIRROR_DEFAULT["cifar100"] is True


def test_svhn_info_records_both_files(tmp_path):
    write_svhn(tmp_path)
    with pytest.warns(DataWarning) as seen:
        ds = data.load("SVHN", tmp_path, download=False)
    messages = [str(w.message) for w in seen if issubclass(w.category, DataWarning)]
    assert len(messages) == 2 and all("is not the official SVHN" in m and "using it anyway" in m for m in messages)
    assert seen[0].filename == __file__     # said at the caller of load, not inside the package
    source = ds.info["source"]
    files = {f["split"]: f for f in source["files"]}
    for split in ("train", "test"):
        path = tmp_path / f"{split}_32x32.mat"
        assert files[split]["file"] == str(path) and files[split]["official"] is False
        assert files[split]["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
        assert files[split]["official_md5"] == data.SVHN_SOURCES[split].md5
    assert source["official"] is False and source["file"] == str(tmp_path / "train_32x32.mat")
    assert ds.name == "svhn" and ds.info["labels"] is None and ds.input_shape == (3072,)
    assert "train_32x32.mat and test_32x32.mat" in ds.describe() and "no mirrors" in ds.describe()
    json.dumps(ds.info)


def test_svhn_official_checksums_give_no_warning(tmp_path, monkeypatch):
    write_svhn(tmp_path)
    for split in ("train", "test"):
        md5 = hashlib.md5((tmp_path / f"{split}_32x32.mat").read_bytes()).hexdigest()
        monkeypatch.setitem(data.svhn.SOURCES, split, dataclasses.replace(data.svhn.SOURCES[split], md5=md5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = data.load("svhn", tmp_path, download=False)
    assert ds.info["source"]["official"] is True and all(f["official"] for f in ds.info["source"]["files"])


def test_svhn_options_subset_standardize_pca(tmp_path):
    want = write_svhn(tmp_path, n_train=40)
    ds = data.load("svhn", tmp_path, subset=(25, 10), pca=8, dtype=numpy.float64, download=False)
    assert ds.train_x.shape == (25, 8) and ds.test_x.shape == (10, 8) and ds.info["sizes"]["subset"] == [25, 10]
    numpy.testing.assert_array_equal(ds.test_y, want["test_y"][:10])
    std = data.load("svhn", tmp_path, download=False)
    planes = std.train_x.reshape(-1, 3, 1024).astype(numpy.float64)
    numpy.testing.assert_allclose(planes.mean(axis=(0, 2)), 0, atol=1e-5)
    numpy.testing.assert_allclose(planes.std(axis=(0, 2)), 1, rtol=1e-5)
    assert std.train_x.dtype == numpy.float32


def test_svhn_downloads_both_files_with_an_opener(tmp_path):
    write_svhn(tmp_path / "source")
    payloads = {SVHN_URL + f"{s}_32x32.mat": (tmp_path / "source" / f"{s}_32x32.mat").read_bytes()
                for s in ("train", "test")}
    calls = []

    class Response(io.BytesIO):
        def __init__(self, payload):
            super().__init__(payload)
            self.headers = {"Content-Length": str(len(payload))}

    def opener(url):
        calls.append(url)
        return Response(payloads[url])
    ds = data.load("svhn", tmp_path / "cache", opener=opener, progress=False)
    assert calls == [SVHN_URL + "train_32x32.mat", SVHN_URL + "test_32x32.mat"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["test_32x32.mat", "train_32x32.mat"]
    assert len(ds.train_x) == 30


# ----------------------------------------------------------------------------- STL-10

def test_stl10_labels_orientation_and_downsampling(tmp_path):
    want = write_stl10(tmp_path)
    ds = raw("stl10", tmp_path)
    assert ds.classes == 10 and ds.label_names[0] == "airplane" and ds.label_names[9] == "truck"
    numpy.testing.assert_array_equal(ds.train_y, want["train_y"])    # 1..10 -> 0..9
    numpy.testing.assert_array_equal(ds.test_y, want["test_y"])
    assert ds.train_x.shape == (12, 3, 32, 32) and ds.test_x.shape == (8, 3, 32, 32)
    numpy.testing.assert_array_equal(ds.train_x, pooled(want["train_x"]))
    numpy.testing.assert_array_equal(ds.test_x, pooled(want["test_x"]))
    first = ds.train_x[0]
    numpy.testing.assert_array_equal(first[0], (6 * numpy.arange(32) + 2)[:, None].repeat(32, 1))  # mean of 2·row
    numpy.testing.assert_array_equal(first[2], (6 * numpy.arange(32) + 2)[None, :].repeat(32, 0))
    assert first[1, 2, 5] == 255 and first[1, 0, 1] == 11 and first[1].sum() == 255 + 11           # 100/9 rounds to 11
    flat = raw("stl10", tmp_path, flatten=True)
    assert flat.train_x.shape == (12, 3072) and flat.input_shape == (3072,)
    numpy.testing.assert_array_equal(flat.train_x[0, 2048:], first[2].ravel())


def test_stl10_downsample_rounds_to_nearest():
    blocks = numpy.zeros((1, 3, 96, 96), dtype=numpy.uint8)
    blocks[0, 0, :3, :3] = [[255, 255, 255], [255, 255, 255], [255, 255, 254]]   # 2294/9 = 254.9 -> 255
    blocks[0, 1, :3, :3] = [[1, 1, 1], [1, 1, 0], [0, 0, 0]]                       # 5/9 -> 1
    blocks[0, 2, :3, :3] = [[1, 1, 1], [1, 0, 0], [0, 0, 0]]                       # 4/9 -> 0
    out = data.stl10.downsample(blocks).reshape(3, 32, 32)
    assert out[:, 0, 0].tolist() == [255, 1, 0] and out.dtype == numpy.uint8


def test_stl10_mirrors_by_default_and_records_its_file(tmp_path):
    write_stl10(tmp_path)
    path = tmp_path / "stl10_binary.tar.gz"
    with pytest.warns(DataWarning, match="stl10_binary.tar.gz is not the official STL-10 release"):
        ds = data.load("stl-10", tmp_path, preprocess="raw", dtype=numpy.uint8, flatten=False, download=False)
    assert ds.name == "stl10" and ds.info["mirror"] is True and ds.train_x.shape == (24, 3, 32, 32)
    numpy.testing.assert_array_equal(ds.train_x[12:], ds.train_x[:12, :, :, ::-1])
    source = ds.info["source"]
    assert source["file"] == str(path) and source["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert source["official"] is False and source["official_md5"] == "91f7769df0f17e558f3565bffb0c7dfb"
    assert "3x3" in source["resized"] and "ours" in source["resized"]
    json.dumps(ds.info)


def test_stl10_official_checksum_gives_no_warning(tmp_path, monkeypatch):
    write_stl10(tmp_path)
    md5 = hashlib.md5((tmp_path / "stl10_binary.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(data.stl10, "SOURCE", dataclasses.replace(data.stl10.SOURCE, md5=md5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data.load("stl10", tmp_path, download=False).info["source"]["official"] is True


def test_stl10_never_reads_the_unlabeled_images(tmp_path):
    """unlabeled_X.bin comes after the labelled members here and the file is cut off inside it: still loads."""
    want = write_stl10(tmp_path, unlabeled=numpy.random.default_rng(0).integers(0, 256, 300_000, numpy.uint8).tobytes())
    path = tmp_path / "stl10_binary.tar.gz"
    payload = path.read_bytes()
    path.write_bytes(payload[:len(payload) - 100_000])
    ds = raw("stl10", tmp_path)
    numpy.testing.assert_array_equal(ds.test_x, pooled(want["test_x"]))


def test_stl10_members_in_any_order(tmp_path):
    write_stl10(tmp_path / "a", first=[("stl10_binary/unlabeled_X.bin", bytes(27648)),
                                       ("stl10_binary/fold_indices.txt", b"0 1 2\n")])
    ds = raw("stl10", tmp_path / "a")
    assert len(ds.train_x) == 12 and len(ds.test_x) == 8


def test_stl10_subset_and_pca(tmp_path):
    want = write_stl10(tmp_path, n_train=20)
    ds = data.load("stl10", tmp_path, subset=(10, 4), pca=6, download=False)
    assert ds.train_x.shape == (20, 6) and ds.test_x.shape == (4, 6)       # 10 originals + their mirrors
    numpy.testing.assert_array_equal(ds.train_y, numpy.concatenate([want["train_y"][:10]] * 2))


# ----------------------------------------------------------------------------- missing files

@pytest.mark.parametrize("name, present, file, url", [
    ("svhn", [], "train_32x32.mat", SVHN_URL + "train_32x32.mat"),
    ("svhn", ["train_32x32.mat"], "test_32x32.mat", SVHN_URL + "test_32x32.mat"),
    ("stl10", [], "stl10_binary.tar.gz", STL_URL),
])
def test_missing_file_without_download_is_one_sentence(tmp_path, name, present, file, url):
    folder = tmp_path / "data"
    if present:
        write_svhn(tmp_path / "source")
        folder.mkdir()
        for f in present:
            (folder / f).write_bytes((tmp_path / "source" / f).read_bytes())
    with pytest.raises(DataError) as err:
        data.load(name, folder, download=False)
    message = str(err.value)
    for part in (str(folder), f"no {file} there", url, "chosen by --data-dir", "--no-download",
                 f"put the official {file}", "SKIP_SINGULARITIES_DATA"):
        assert part in message, (part, message)
    assert message.count(". ") == 0 and message.endswith(".")


def test_missing_file_names_the_environment_variable_when_it_chose(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIP_SINGULARITIES_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError, match=r"STL-10 is not in .*env .*chosen by \$SKIP_SINGULARITIES_DATA"):
        data.load("stl10", download=False)


@pytest.mark.parametrize("name, url", [("svhn", SVHN_URL + "train_32x32.mat"), ("stl10", STL_URL)])
def test_failed_download_is_one_sentence(tmp_path, name, url):
    def offline(u):
        raise urllib.error.URLError("Name or service not known")
    folder = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        data.load(name, folder, opener=offline, progress=False)
    message = str(err.value)
    assert f"downloading {url} failed (Name or service not known)" in message and str(folder) in message
    assert not folder.exists() and message.count(". ") == 0


# ----------------------------------------------------------------------------- broken files

def _broken(name, folder, file):
    with pytest.raises(DataError) as err, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        data.load(name, folder, download=False)
    assert not seen                                   # the error alone, no checksum warning before it
    message = str(err.value)
    assert str(folder / file) in message and "chosen by --data-dir" in message
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__
    return message


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_broken_svhn_file(tmp_path, split, damage):
    write_svhn(tmp_path)
    path = tmp_path / f"{split}_32x32.mat"
    payload = path.read_bytes()
    path.write_bytes({"truncated": payload[:len(payload) // 2], "garbage": b"<html>Not Found</html>" * 100,
                      "empty": b""}[damage])
    message = _broken("svhn", tmp_path, path.name)
    assert f"is not a readable SVHN {'training' if split == 'train' else 'test'} set MATLAB file" in message
    assert f"download it again from {SVHN_URL}{split}_32x32.mat" in message


@pytest.mark.parametrize("contents, reason", [
    ({"X": numpy.zeros((32, 32, 3, 2), numpy.uint8)}, "no variable y"),
    ({"X": numpy.zeros((28, 28, 3, 2), numpy.uint8), "y": numpy.ones((2, 1))}, r"not \(32, 32, 3, N\) uint8"),
    ({"X": numpy.zeros((32, 32, 3, 2), numpy.uint8), "y": numpy.array([[0], [1]])}, "from 1 to 10"),
    ({"X": numpy.zeros((32, 32, 3, 2), numpy.uint8), "y": numpy.array([[11], [1]])}, "from 1 to 10"),
    ({"X": numpy.zeros((32, 32, 3, 2), numpy.uint8), "y": numpy.ones((3, 1))}, "2 images but 3 labels"),
])
def test_svhn_file_in_another_format(tmp_path, contents, reason):
    write_svhn(tmp_path)
    scipy.io.savemat(str(tmp_path / "train_32x32.mat"), contents)
    message = _broken("svhn", tmp_path, "train_32x32.mat")
    assert "does not hold the SVHN training set in the official cropped-digits format" in message
    assert re.search(reason, message), message


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_broken_stl10_tarball(tmp_path, damage):
    write_stl10(tmp_path)
    path = tmp_path / "stl10_binary.tar.gz"
    payload = path.read_bytes()
    path.write_bytes(payload[:len(payload) // 3] if damage == "truncated" else b"<html>Not Found</html>" * 100)
    message = _broken("stl10", tmp_path, path.name)
    assert "is not a readable STL-10 tarball" in message and f"download it again from {STL_URL}" in message


def _stl_tar(folder, members):
    folder.mkdir(parents=True, exist_ok=True)
    _tar(folder / "stl10_binary.tar.gz", members)


def test_stl10_tarball_without_its_members(tmp_path):
    _stl_tar(tmp_path, [("stl10_binary/train_X.bin", bytes(27648)), ("stl10_binary/train_y.bin", b"\x01")])
    message = _broken("stl10", tmp_path, "stl10_binary.tar.gz")
    assert "lacks stl10_binary/test_X.bin and stl10_binary/test_y.bin" in message


@pytest.mark.parametrize("members, reason", [
    ({"train_X.bin": bytes(27648 + 5)}, "not a whole number of 96x96x3 images"),
    ({"train_y.bin": b"\x01\x0b"}, "labels must be from 1 to 10"),
    ({"train_y.bin": b"\x00\x01"}, "labels must be from 1 to 10"),
    ({"test_y.bin": b"\x01\x02\x03"}, "1 images but test_y.bin 3 labels"),
])
def test_stl10_tarball_in_another_format(tmp_path, members, reason):
    good = {"train_X.bin": bytes(2 * 27648), "train_y.bin": b"\x01\x02", "test_X.bin": bytes(27648),
            "test_y.bin": b"\x03"}
    _stl_tar(tmp_path, [("stl10_binary/" + k, v) for k, v in {**good, **members}.items()])
    message = _broken("stl10", tmp_path, "stl10_binary.tar.gz")
    assert "does not hold STL-10 in the official binary format" in message
    assert re.search(reason, message), message


def test_unknown_name_lists_the_new_sets():
    with pytest.raises(DataError, match="choose one of cifar10, cifar100, synthetic, svhn, stl10"):
        data.load("mnist")


# ----------------------------------------------------------------------------- Fig S7

@pytest.mark.parametrize("name, write", [("svhn", write_svhn), ("stl10", write_stl10)])
def test_fig_s7_runs_at_the_test_preset(tmp_path, name, write):
    """The test preset replaces only CIFAR by the synthetic set, so Fig S7 reads the data folder's files."""
    from analysis.figures import FIGURES
    from analysis.reproduction import presets
    from analysis.reproduction.reproduce import reproduce
    from analysis.reproduction.sweep import Sweep
    kwargs = {"n_train": 64, "n_test": 40} if name == "svhn" else {"n_train": 50, "n_test": 40}
    write(tmp_path / "data", **kwargs)
    summary = reproduce(FIGURES[f"figS7-{name}"], presets.get("test"),
                        Sweep(str(tmp_path / "out"), data_root=str(tmp_path / "data")))
    assert summary["not_finished"] == {}, summary["not_finished"]
    assert sum(summary["runs_per_group"].values()) == 4 and summary["runs_per_group"]["Best"] == 2
    assert all(c["verdict"] != "no data" for c in summary["claims"])
    report = (tmp_path / "out" / f"figS7-{name}" / "report.md").read_text()
    assert "is read from the official" in report


def test_quick_preset_data_config_loads_svhn(tmp_path):
    """Fig S7's quick runs ask data.load for the first 5,000 training and 2,000 test images (no mirrors for SVHN)."""
    from analysis.reproduction import presets
    config = presets.get("quick").data("svhn")
    assert config == {"name": "svhn", "subset": [5000, 2000]}
    want = write_svhn(tmp_path, n_train=5000, n_test=2000)
    ds = data.load(**config, root=tmp_path, download=False, progress=False)
    assert ds.train_x.shape == (5000, 3072) and ds.test_x.shape == (2000, 3072) and ds.classes == 10
    numpy.testing.assert_array_equal(ds.train_y, want["train_y"])
