"""CIFAR-10 and CIFAR-100 from the official "python version" tarballs.

Where the data lives (first that applies):

1. the ``root`` argument (``--data-dir`` on the command line),
2. the environment variable ``SKIP_SINGULARITIES_DATA``,
3. the cache folder ``~/.cache/skip-singularities``.

The folder holds ``cifar-10-python.tar.gz`` and/or ``cifar-100-python.tar.gz`` exactly as
published at https://www.cs.toronto.edu/~kriz/cifar.html. The tarball is read directly
(nothing is unpacked to disk). A missing tarball is downloaded from the official address
into the folder; without internet, put the tarballs there by hand (tarballs rebuilt in the
official layout and pickle format from other copies of the images are read the same way).

Every tarball's MD5 is compared with the official one; a different one (as with the
rebuilt tarballs, whose pixels went through JPEG) is used anyway, with a ``DataWarning``,
and ``source["official"]`` says which it was.
"""
import hashlib
import os
import pickle
import re
import tarfile
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy

from models.files import atomic_write

from .errors import DataError, DataWarning
from .raw import RawData

ENV_VAR = "SKIP_SINGULARITIES_DATA"
DEFAULT_ROOT = Path("~/.cache/skip-singularities")
IMAGE_BYTES = 3 * 32 * 32


@dataclass(frozen=True)
class Source:
    """One official tarball: where it comes from, its checksum and what is inside."""

    title: str
    filename: str
    url: str
    md5: str
    folder: str  # the directory inside the tarball


SOURCES = {
    "cifar10": Source("CIFAR-10", "cifar-10-python.tar.gz",
                      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"),
    "cifar100": Source("CIFAR-100", "cifar-100-python.tar.gz",
                       "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                       "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"),
}

# Exceptions that mean "this file is not a readable tarball of pickled batches". MemoryError too: a
# damaged or forged file can declare a size no machine has (a 315-byte tarball can ask for a terabyte).
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, pickle.UnpicklingError,
                ValueError, TypeError, KeyError, IndexError, AttributeError, ImportError, MemoryError)


# ----------------------------------------------------------------------------- where

def data_root(root=None):
    """The data folder and a phrase saying where that choice came from (for error messages)."""
    if root is not None:
        return Path(root).expanduser(), "--data-dir"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    return DEFAULT_ROOT.expanduser(), f"default, as neither --data-dir nor ${ENV_VAR} is set"


def locate(name, root=None, download=True, opener=None, progress=True):
    """Path of the tarball for ``name``, downloading it into the data folder when it is missing."""
    return locate_source(SOURCES[name], root, download=download, opener=opener, progress=progress)


def locate_source(source, root=None, download=True, opener=None, progress=True):
    """Path of one official file (a ``Source``) in the data folder, downloaded there when missing.

    Shared by every data set read from official files (CIFAR here, ``svhn``, ``stl10``): a
    missing file with downloading off, or a failed download, is one DataError sentence naming
    the file, the folder, how the folder was chosen, and where to get the file.
    """
    folder, why = data_root(root)
    path = folder / source.filename
    if path.is_file():
        return path
    if not download:
        raise DataError(_missing(source, path, why, "downloading is off (--no-download)"))
    try:
        download_file(source.url, path, opener=opener, progress=progress)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(_missing(source, path, why, f"downloading {source.url} failed ({reason})")) from None
    return path


def _missing(source, path, why, what_failed):
    folder = path.parent
    return (f"{source.title} is not in {folder} (no {path.name} there; folder chosen by {why}) and "
            f"{what_failed}; put the official {source.filename} (from {source.url}) there, "
            f"or set ${ENV_VAR} or --data-dir to a folder that holds it.")


# ----------------------------------------------------------------------------- download

def _urlopen(url):
    return urllib.request.urlopen(url, timeout=60)


def download_file(url, dest, opener=None, progress=True, chunk=1 << 20):
    """Stream ``url`` into ``dest``: a temporary file in the same folder, renamed when complete.

    The rename is atomic, so an interrupted download never leaves a half tarball under the
    real name (the next run would otherwise trust it). ``opener(url)`` returns a file-like
    response (``urllib.request.urlopen`` by default); tests pass a fake one.
    """
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    dest = Path(dest)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with (opener or _urlopen)(url) as response:
        total = _content_length(response)

        def write(tmp):
            size = 0
            with open(tmp, "wb") as out, Progress(*columns, console=Console(stderr=True),
                                                  disable=not progress) as bar:
                task = bar.add_task(f"downloading {dest.name}", total=total)
                while block := response.read(chunk):
                    out.write(block)
                    size += len(block)
                    bar.update(task, advance=len(block))
            if total is not None and size != total:
                raise OSError(f"the connection closed after {size} of {total} bytes")
        atomic_write(str(dest), write)
    return dest


def _content_length(response):
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    return int(value) if value else None


# ----------------------------------------------------------------------------- checksum

def md5sum(path, chunk=1 << 22):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_md5(name, path):
    """Compare with the official checksum; warn (and carry on) when it differs."""
    return check_source_md5(SOURCES[name], path, ", as expected for tarballs rebuilt by make_cifar.py from "
                            "JPEG copies", stacklevel=5)  # at load()'s caller


def check_source_md5(source, path, remark="", stacklevel=4):
    """(md5, official) of one file; a ``DataWarning`` (and the file is used) when it is not the official one.

    ``stacklevel`` counts from this function: 4 is the caller of the function that called
    the caller (``load``'s caller for a reader called by ``load``).
    """
    md5 = md5sum(path)
    official = md5 == source.md5
    if not official:
        warnings.warn(f"{path} is not the official {source.title} release (MD5 {md5}, official "
                      f"{source.md5}); using it anyway{remark}.", DataWarning, stacklevel=stacklevel)
    return md5, official


def file_record(source, path, md5, official):
    """What ``ds.info["source"]`` says about one file."""
    return {"file": str(path), "md5": md5, "official_md5": source.md5, "official": official}


# ----------------------------------------------------------------------------- reading

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays, and refuses every other global.

    Pickle can run any code a file names; a tarball found on disk or downloaded should only
    ever be able to build arrays. The names cover Python-2 pickles (the official files) and
    Python-3 pickles of any protocol, from NumPy 1.x and 2.x. ``limit``: the pickle's size in
    bytes; no array or buffer it declares may be larger (its data would have to be inside it).
    """

    def __init__(self, file, *, limit, **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = _allowed_globals(limit)

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return self.allowed[(module, name)]


def _allowed_globals(limit):
    """The globals a batch pickle may name; the ones that allocate check the size they are asked for first."""
    import codecs
    import math
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy < 1.26
        from numpy.core import multiarray, numeric

    def declare(nbytes, what):
        if nbytes > limit:
            raise pickle.UnpicklingError(f"it declares {what} of {nbytes:,} bytes in a pickle of {limit:,} bytes")

    def array_bytes(shape, dtype):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return abs(math.prod(int(n) for n in shape)) * numpy.dtype(dtype).itemsize

    def ndarray(shape, dtype=float, *args, **kwargs):      # stands for numpy.ndarray
        declare(array_bytes(shape, dtype), "an array")
        return numpy.ndarray(shape, dtype, *args, **kwargs)

    def reconstruct(subtype, shape, dtype):
        if subtype is not ndarray:
            raise pickle.UnpicklingError("refusing to reconstruct an array of a type other than numpy.ndarray")
        declare(array_bytes(shape, dtype), "an array")
        return multiarray._reconstruct(numpy.ndarray, shape, dtype)

    def make_bytearray(*args):
        if args and isinstance(args[0], int):
            declare(args[0], "a buffer")
        return bytearray(*args)

    objects = {"multiarray._reconstruct": reconstruct, "multiarray.scalar": multiarray.scalar,
               "numeric._frombuffer": numeric._frombuffer}
    allowed = {("numpy", "ndarray"): ndarray, ("numpy", "dtype"): numpy.dtype,
               ("_codecs", "encode"): codecs.encode, ("builtins", "bytearray"): make_bytearray,
               ("__builtin__", "bytearray"): make_bytearray}
    for package in ("numpy.core", "numpy._core"):
        for key, obj in objects.items():
            module, name = key.split(".")
            allowed[(f"{package}.{module}", name)] = obj
    return allowed


def _unpickle(blob):
    """A dict with str keys from a pickled batch, Python 2 (byte-string keys) or Python 3 (str keys)."""
    import io
    obj = _ArrayUnpickler(io.BytesIO(blob), limit=len(blob), encoding="bytes").load()
    if not isinstance(obj, dict):
        raise ValueError(f"expected a dict, found {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_members(path, wanted):
    """{member name: unpickled dict} for the members whose name satisfies ``wanted``, in one pass."""
    found = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and wanted(member.name):
                found[member.name] = _unpickle(tar.extractfile(member).read())
    return found


# Inside the tarball's folder: training members (a pattern), the test member, the meta member.
_LAYOUT = {"cifar10": (r"data_batch_\d+", "test_batch", "batches.meta"),
           "cifar100": (r"train", "test", "meta")}


def read_tarball(name, path):
    """RawData parts from an official-format tarball; any defect becomes one DataError sentence.

    CIFAR-10's training batches are whichever ``data_batch_N`` members exist (five in the
    official file), in the order of N.
    """
    source = SOURCES[name]
    folder = source.folder + "/"
    train_pattern, test, meta = _LAYOUT[name]
    is_train = re.compile(train_pattern).fullmatch
    rebuild = f"delete it and download it again from {source.url}"
    try:
        members = _read_members(path, lambda m: m.startswith(folder) and (
            is_train(m[len(folder):]) or m[len(folder):] in (test, meta)))
    except _READ_ERRORS as exc:
        raise DataError(f"{path} is not a readable {source.title} tarball ({_reason(exc)}); {rebuild}.") from None
    members = {m[len(folder):]: v for m, v in members.items()}
    train = sorted((m for m in members if is_train(m)), key=lambda m: int(re.sub(r"\D", "", m) or 0))
    missing = ([] if train else [folder + train_pattern.replace(r"\d+", "N")]) + \
              ([] if test in members else [folder + test])
    if missing:
        raise DataError(f"{path} lacks {' and '.join(missing)}, so it is not a complete {source.title} "
                        f"python-version tarball; {rebuild}.")
    try:
        return _assemble(name, [members[m] for m in train], members[test], members.get(meta, {}))
    except _READ_ERRORS as exc:
        raise DataError(f"{path} does not hold {source.title} in the official layout ({_reason(exc)}); "
                        f"{rebuild}.") from None


def _reason(exc):
    text = " ".join(str(exc).split()).rstrip(".")
    if isinstance(exc, MemoryError):        # no data set file needs more memory than a machine has: damaged
        return "it asks for more memory than this machine has" + (f": {text}" if text else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _assemble(name, train_batches, test_batch, meta):
    """Concatenate batches, check shapes and label ranges, and keep both CIFAR-100 label sets."""
    keys = ["labels"] if name == "cifar10" else ["coarse_labels", "fine_labels"]
    counts = [10] if name == "cifar10" else [20, 100]
    train_x = numpy.concatenate([_images(b, f"training batch {i + 1}") for i, b in enumerate(train_batches)])
    test_x = _images(test_batch, "test batch")
    train_y = {k: numpy.concatenate([_labels(b, k, n) for b in train_batches]) for k, n in zip(keys, counts)}
    test_y = {k: _labels(test_batch, k, n) for k, n in zip(keys, counts)}
    for split, x, ys in (("training", train_x, train_y), ("test", test_x, test_y)):
        for k, y in ys.items():
            if len(y) != len(x):
                raise ValueError(f"{len(x)} {split} images but {len(y)} {k}")
    names = {k: _names(meta, k.replace("labels", "label_names")) for k in keys}
    return train_x, train_y, test_x, test_y, names


def _images(batch, what):
    x = numpy.asarray(batch["data"])
    if x.ndim != 2 or x.shape[1] != IMAGE_BYTES or x.dtype != numpy.uint8:
        raise ValueError(f"{what} data has shape {x.shape} and dtype {x.dtype}, not (N, 3072) uint8")
    return x


def _labels(batch, key, classes):
    """The labels as int64; integers only (a cast would turn a label 0.5 silently into class 0)."""
    y = numpy.asarray(batch[key])
    if y.size == 0:
        y = y.astype(numpy.int64)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= classes)):
        raise ValueError(f"{key} must be a list of integers in [0, {classes})")
    return y.astype(numpy.int64)


def _names(meta, key):
    values = meta.get(key, ())
    return tuple(v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values)


def load_cifar(name, root=None, labels="coarse", download=True, opener=None, progress=True):
    """RawData for "cifar10" or "cifar100" (``labels`` picks CIFAR-100's "coarse" or "fine" set)."""
    path = locate(name, root, download=download, opener=opener, progress=progress)
    train_x, train_y, test_x, test_y, names = read_tarball(name, path)
    md5, official = check_md5(name, path)  # after reading: a broken file gets the error alone
    key = "labels" if name == "cifar10" else f"{labels}_labels"
    classes = {"labels": 10, "coarse_labels": 20, "fine_labels": 100}[key]
    label_names = names[key] if len(names[key]) == classes else tuple(str(i) for i in range(classes))
    source = {"file": str(path), "md5": md5, "official_md5": SOURCES[name].md5, "official": official}
    return RawData(train_x, train_y[key], test_x, test_y[key], classes, label_names, source)
