"""SVHN (Street View House Numbers) from the official "cropped digits" files (format 2).

The data folder (chosen as for CIFAR, see ``data.cifar``) holds ``train_32x32.mat`` and
``test_32x32.mat`` exactly as published at http://ufldl.stanford.edu/housenumbers/; a missing
one is downloaded there from that address (offline, put them there by hand). The extra
training set (``extra_32x32.mat``) is not used.

Each file is a MATLAB file read with ``scipy.io.loadmat``: ``X`` is (32, 32, 3, N) uint8,
one image per last index with its rows first, and ``y`` is (N, 1) with the labels 1..10, 10
standing for the digit 0. Here the images become CIFAR's uint8 rows (R, G, B planes of 32x32
pixels, row-major) and the labels the digits themselves (10 -> 0), so class c is digit c.

Every file's MD5 is compared with the official one; a different one is used with a
``DataWarning``, and ``source["files"]`` says which file was which.

Mirroring: horizontally mirrored digits are not digits (a mirrored 3 is no digit at all,
a mirrored 2 is close to a 5), so ``data.load`` does not mirror SVHN unless asked
(``mirror=True`` still adds the mirrors, as for any data set). This is our choice: the paper
gives no settings for its Fig S7 (docs/paper.md §6 item 1).
"""
import zlib
from pathlib import Path

import numpy

from .cifar import Source, _reason, check_source_md5, data_root, file_record, locate_source
from .errors import DataError
from .raw import RawData

URL = "http://ufldl.stanford.edu/housenumbers/"
SOURCES = {
    "train": Source("SVHN training set", "train_32x32.mat", URL + "train_32x32.mat",
                    "e26dedcc434d2e4c54c9b2d4a06d8373", ""),
    "test": Source("SVHN test set", "test_32x32.mat", URL + "test_32x32.mat",
                   "eb5a983be6a315427106f1b4ec13fde1", ""),
}
CLASSES = 10
LABEL_NAMES = tuple(str(d) for d in range(CLASSES))  # class c is the digit c


def _read_errors():
    """Exceptions that mean "this file is not a readable MATLAB file" (loadmat raises many kinds)."""
    from scipy.io.matlab import MatReadError
    return (MatReadError, OSError, EOFError, ValueError, TypeError, IndexError, KeyError, zlib.error,
            NotImplementedError, MemoryError)


def read_mat(source, path, why=None):
    """(x, y) of one official-format SVHN file: (N, 3072) uint8 rows and int64 digits 0..9.

    Any defect (not a MATLAB file, truncated, no ``X`` or ``y``, wrong shapes, labels outside
    1..10) is one DataError sentence naming the file and what to do.
    """
    import scipy.io
    where = f" (folder chosen by {why})" if why else ""
    rebuild = (f"delete it and download it again from {source.url}, or put the official {source.filename} "
               f"there by hand")
    try:
        contents = scipy.io.loadmat(str(path), variable_names=["X", "y"])
    except _read_errors() as exc:
        raise DataError(f"{path}{where} is not a readable {source.title} MATLAB file ({_reason(exc)}); "
                        f"{rebuild}.") from None
    try:
        return _convert(contents)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}{where} does not hold the {source.title} in the official cropped-digits format "
                        f"({_reason(exc)}); {rebuild}.") from None


def _convert(contents):
    missing = [k for k in ("X", "y") if k not in contents]
    if missing:
        raise KeyError(f"no variable {' or '.join(missing)}")
    x, y = numpy.asarray(contents["X"]), numpy.asarray(contents["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != numpy.uint8:
        raise ValueError(f"X has shape {x.shape} and dtype {x.dtype}, not (32, 32, 3, N) uint8")
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] != 1) or y.dtype.kind not in "uif":
        raise ValueError(f"y has shape {y.shape} and dtype {y.dtype}, not (N, 1) numbers")
    y = y.reshape(-1)
    if len(y) != x.shape[3]:
        raise ValueError(f"{x.shape[3]} images but {len(y)} labels")
    if y.size and (numpy.any(y != numpy.round(y)) or y.min() < 1 or y.max() > 10):
        raise ValueError("labels must be integers from 1 to 10 (10 for the digit 0)")
    # X[row, column, channel, n] -> rows[n] = (channel, row, column) flattened, CIFAR's order.
    rows = numpy.ascontiguousarray(x.transpose(3, 2, 0, 1)).reshape(x.shape[3], -1)
    return rows, y.astype(numpy.int64) % 10


def load_svhn(root=None, download=True, opener=None, progress=True):
    """RawData of SVHN's training (73,257 images) and test (26,032) sets, labels the digits 0..9.

    ``source["files"]`` lists both files with their MD5s and whether each is official;
    ``source["file"]``/``["md5"]`` are the training file's, ``source["official"]`` is True
    only when both are the official files.
    """
    _, why = data_root(root)
    paths = {split: locate_source(s, root, download=download, opener=opener, progress=progress)
             for split, s in SOURCES.items()}
    parts = {split: read_mat(SOURCES[split], paths[split], why) for split in SOURCES}
    records = []
    for split, path in paths.items():  # after reading: a broken file gets the error alone
        md5, official = check_source_md5(SOURCES[split], path, stacklevel=4)  # at load()'s caller
        records.append(dict(file_record(SOURCES[split], path, md5, official), split=split))
    source = dict(records[0], official=all(r["official"] for r in records), files=records,
                  folder=str(Path(paths["train"]).parent), labels="digits: official 10 (digit 0) mapped to 0")
    source.pop("split")
    (train_x, train_y), (test_x, test_y) = parts["train"], parts["test"]
    return RawData(train_x, train_y, test_x, test_y, CLASSES, LABEL_NAMES, source)
