"""STL-10 from the official binary tarball, reduced to 32x32 so that the paper's 3072-input nets apply.

The data folder (chosen as for CIFAR, see ``data.cifar``) holds ``stl10_binary.tar.gz``
exactly as published at http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz (downloaded
there from that address when missing; offline, put it there by hand). The tarball is read
directly (nothing is unpacked to disk): ``stl10_binary/train_X.bin``, ``train_y.bin``,
``test_X.bin`` and ``test_y.bin`` (5,000 labelled training and 8,000 test images).
``unlabeled_X.bin`` (100,000 images, 2.7 GB) is never read: the members are taken in one
pass and the pass stops as soon as the four are in hand (a gzip stream can only be read in
order, so whatever the tarball stores before them is decompressed and skipped).

Format: ``*_X.bin`` is uint8, 96x96x3 per image, one channel after the other, each channel
stored column by column (read as (N, 3, 96, 96) it is (image, channel, column, row));
``*_y.bin`` is one uint8 label 1..10 per image, mapped here to 0..9 in the order of the
official ``class_names.txt`` (``LABEL_NAMES``).

Resolution (our choice): the paper's nets take 32x32x3 = 3072 inputs, and the paper says
nothing of STL-10's resolution or preprocessing for its Fig S7 (docs/paper.md §6 item 1). So
each 96x96 image is reduced to 32x32 by averaging every 3x3 block of pixels (per channel;
the mean of 9 bytes rounded to the nearest integer, so images stay uint8 like CIFAR's), and
the result is used exactly like CIFAR (mirrors, per-channel preprocessing, PCA).
"""
import tarfile

import numpy

from .cifar import _READ_ERRORS, Source, _reason, check_source_md5, data_root, file_record, locate_source
from .errors import DataError
from .raw import RawData

SOURCE = Source("STL-10", "stl10_binary.tar.gz", "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                "91f7769df0f17e558f3565bffb0c7dfb", "stl10_binary")
CLASSES = 10
LABEL_NAMES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
SIDE, POOL = 96, 3                  # official side; POOL x POOL blocks averaged to 32x32
IMAGE_BYTES = 3 * SIDE * SIDE       # 27,648
MEMBERS = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")
CHUNK = 1000                        # images read and reduced at a time (28 MB of bytes)
RESIZE = ("96x96 -> 32x32 by averaging each 3x3 block per channel, rounded to uint8 "
          "(ours: the paper gives no resolution)")


class _FormatError(ValueError):
    """A member that is readable but not in the official format."""


def downsample(images):
    """(n, 3, 96, 96) uint8 in (channel, row, column) order -> (n, 3072) uint8 rows of 3x3 block means.

    Integer arithmetic: the block sum (at most 9 x 255, a uint16) plus 4, floor-divided by 9, is
    the mean rounded to the nearest integer (a ninth is never exactly a half, so no ties).
    """
    n = len(images)
    side = SIDE // POOL
    sums = images.reshape(n, 3, side, POOL, side, POOL).sum(axis=(3, 5), dtype=numpy.uint16)
    return ((sums + POOL * POOL // 2) // (POOL * POOL)).astype(numpy.uint8).reshape(n, 3 * side * side)


def _read_images(stream, size, what):
    """Reduced (n, 3072) rows from a ``*_X.bin`` member, read CHUNK images at a time."""
    if size % IMAGE_BYTES:
        raise _FormatError(f"{what} holds {size} bytes, not a whole number of 96x96x3 images "
                           f"({IMAGE_BYTES} bytes each)")
    n = size // IMAGE_BYTES
    out = numpy.empty((n, 3 * (SIDE // POOL) ** 2), dtype=numpy.uint8)
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        block = stream.read(count * IMAGE_BYTES)
        if len(block) != count * IMAGE_BYTES:
            raise EOFError(f"{what} ended after {start * IMAGE_BYTES + len(block)} of {size} bytes")
        # Stored column by column: (image, channel, column, row); swap to rows first.
        images = numpy.frombuffer(block, dtype=numpy.uint8).reshape(count, 3, SIDE, SIDE).transpose(0, 1, 3, 2)
        out[start:start + count] = downsample(images)
    return out


def _read_labels(stream, size, what):
    y = numpy.frombuffer(stream.read(size), dtype=numpy.uint8)
    if len(y) != size:
        raise EOFError(f"{what} ended after {len(y)} of {size} bytes")
    return y


def read_tarball(path, why=None):
    """(train_x, train_y, test_x, test_y) from an official-format tarball; any defect is one DataError sentence."""
    where = f" (folder chosen by {why})" if why else ""
    rebuild = (f"delete it and download it again from {SOURCE.url}, or put the official {SOURCE.filename} "
               f"there by hand")
    folder = SOURCE.folder + "/"

    def not_official(exc):
        return DataError(f"{path}{where} does not hold {SOURCE.title} in the official binary format "
                         f"({_reason(exc)}); {rebuild}.")
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name[len(folder):] if member.name.startswith(folder) else None
                if member.isfile() and name in MEMBERS and name not in found:
                    stream = tar.extractfile(member)
                    read = _read_images if name.endswith("_X.bin") else _read_labels
                    found[name] = read(stream, member.size, folder + name)
                    if len(found) == len(MEMBERS):
                        break  # never walk on into unlabeled_X.bin
    except _FormatError as exc:
        raise not_official(exc) from None
    except _READ_ERRORS as exc:
        raise DataError(f"{path}{where} is not a readable {SOURCE.title} tarball ({_reason(exc)}); "
                        f"{rebuild}.") from None
    missing = [folder + m for m in MEMBERS if m not in found]
    if missing:
        raise DataError(f"{path}{where} lacks {' and '.join(missing)}, so it is not a complete {SOURCE.title} "
                        f"binary tarball; {rebuild}.")
    try:
        parts = []
        for split in ("train", "test"):
            x, y = found[f"{split}_X.bin"], found[f"{split}_y.bin"]
            if len(x) != len(y):
                raise ValueError(f"{split}_X.bin has {len(x)} images but {split}_y.bin {len(y)} labels")
            if y.size and (y.min() < 1 or y.max() > CLASSES):
                raise ValueError(f"{split}_y.bin labels must be from 1 to {CLASSES}")
            parts += [x, y.astype(numpy.int64) - 1]
    except ValueError as exc:
        raise not_official(exc) from None
    return tuple(parts)


def load_stl10(root=None, download=True, opener=None, progress=True):
    """RawData of STL-10's labelled sets (5,000 training, 8,000 test images) at 32x32, labels 0..9."""
    _, why = data_root(root)
    path = locate_source(SOURCE, root, download=download, opener=opener, progress=progress)
    train_x, train_y, test_x, test_y = read_tarball(path, why)
    md5, official = check_source_md5(SOURCE, path, stacklevel=4)  # after reading; warns at load()'s caller
    source = dict(file_record(SOURCE, path, md5, official), resized=RESIZE,
                  labels="official 1..10 mapped to 0..9", members=[SOURCE.folder + "/" + m for m in MEMBERS])
    return RawData(train_x, train_y, test_x, test_y, CLASSES, LABEL_NAMES, source)
