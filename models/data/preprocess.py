"""Mirroring, per-channel preprocessing and PCA on uint8 image rows.

Images stay uint8 rows of 3072 bytes (R plane, G plane, B plane, each 32x32 row-major) until
the single conversion at the end, which is done in chunks: the 100,000-image training set is
300 MB as bytes and 1.2 GB as float32, and a float64 temporary of it would be 2.5 GB.
"""
from dataclasses import dataclass

import numpy
import scipy.linalg

from .errors import DataError

CHANNELS, SIDE = 3, 32
PIXELS = SIDE * SIDE
FEATURES = CHANNELS * PIXELS
CHUNK = 512  # rows per conversion step: 512 x 3072 float32 (6 MB) stays in cache
PCA_CHUNK = 4096  # rows per covariance update: 4096 x 3072 float64 is 100 MB

PREPROCESS = {
    "standardize": "per-channel mean and std of the training set: x -> (x - mean_c) / std_c",
    "center": "per-channel mean of the training set subtracted: x -> x - mean_c (0-255 scale)",
    "unit": "scaled to [0, 1]: x -> x / 255",
    "raw": "pixel values 0-255 as floats",
}


# ----------------------------------------------------------------------------- mirroring

def mirror_permutation():
    """Index array p with row[p] the horizontal mirror of a flat channel-major image row.

    The mirror is its own inverse (p[p] is the identity), which PCA below relies on.
    """
    return numpy.arange(FEATURES).reshape(CHANNELS, SIDE, SIDE)[:, :, ::-1].ravel()


def add_mirrors(x, y):
    """The paper's augmentation: every image followed, after all originals, by its mirror image.

    Returns (2N, 3072) uint8 rows whose second half is the horizontal flip of the first, and
    the labels repeated. Originals first keeps ``x[:N]`` equal to the data as published.
    """
    n = len(x)
    out = numpy.empty((2 * n, FEATURES), dtype=x.dtype)
    out[:n] = x
    out[n:].reshape(n, CHANNELS, SIDE, SIDE)[...] = x.reshape(n, CHANNELS, SIDE, SIDE)[..., ::-1]
    return out, numpy.concatenate([y, y])


# ----------------------------------------------------------------------------- per-channel maps

def channel_stats(x):
    """Exact per-channel mean and standard deviation (population, ddof=0) of uint8 rows.

    Counted from 256-bin histograms, so it needs no float copy of the data and has no
    rounding drift. Mirroring permutes pixels within a channel, so these statistics are the
    same with or without the mirrored half; they are computed on whatever training set is
    given (the mirrored one in ``load``).
    """
    counts = numpy.zeros((CHANNELS, 256), dtype=numpy.int64)
    for start in range(0, len(x), CHUNK):
        block = x[start:start + CHUNK].reshape(-1, CHANNELS, PIXELS)
        for c in range(CHANNELS):
            counts[c] += numpy.bincount(block[:, c].ravel(), minlength=256)
    values = numpy.arange(256, dtype=numpy.float64)
    total = counts.sum(axis=1)
    mean = counts @ values / total
    var = (counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / total
    return mean, numpy.sqrt(var)


@dataclass
class ChannelTransform:
    """x -> (x - shift_c) * scale_c per colour channel c, fitted on the training set only.

    "standardize" is the default because the paper's networks start from Glorot-normal
    weights, whose variance-preserving derivation assumes zero-mean inputs of unit scale:
    with 3072 inputs of unit variance the first layer's pre-activations have a variance of
    about 2, with raw 0-255 values a standard deviation in the hundreds, and with [0, 1]
    inputs (all positive) a large shared offset across units. Per-channel (rather than
    per-pixel) statistics keep the image structure and are the usual CIFAR convention; the
    paper states no preprocessing except PCA for its small networks.
    """

    mode: str
    shift: numpy.ndarray  # (3,) float64, in 0-255 units
    scale: numpy.ndarray  # (3,)
    channel_mean: numpy.ndarray
    channel_std: numpy.ndarray

    @classmethod
    def fit(cls, mode, train_x):
        if mode not in PREPROCESS:
            raise DataError(f"unknown preprocess {mode!r}; choose one of {', '.join(PREPROCESS)}.")
        mean, std = channel_stats(train_x)
        zeros, ones = numpy.zeros(CHANNELS), numpy.ones(CHANNELS)
        if mode == "standardize":
            if numpy.any(std == 0):
                raise DataError("cannot standardize: a colour channel is constant over the training set.")
            shift, scale = mean, 1.0 / std
        elif mode == "center":
            shift, scale = mean, ones
        elif mode == "unit":
            shift, scale = zeros, ones / 255.0
        else:
            shift, scale = zeros, ones
        return cls(mode, shift, scale, mean, std)

    def columns(self, dtype=numpy.float64):
        """(shift, scale) as 3072-vectors in ``dtype``, one value per feature of a flat row."""
        return (numpy.repeat(self.shift, PIXELS).astype(dtype),
                numpy.repeat(self.scale, PIXELS).astype(dtype))

    def apply(self, x, dtype=numpy.float32):
        """Transformed uint8 rows, converted once into ``dtype``.

        The arithmetic runs in place in the output, in cache-sized chunks, in ``dtype``
        itself: bytes are exact in float32, so the result is within a few float32 rounding
        steps of a float64 computation, at a fraction of the time and memory. With
        ``dtype=uint8`` (only for "raw") the rows are returned as they are.
        """
        if numpy.dtype(dtype) == numpy.uint8:
            if self.mode != "raw":
                raise DataError(f"dtype uint8 only works with preprocess='raw', not {self.mode!r}.")
            return x
        shift, scale = self.columns(dtype)
        out = numpy.empty(x.shape, dtype=dtype)
        for start in range(0, len(x), CHUNK):
            block = out[start:start + CHUNK]
            block[...] = x[start:start + CHUNK]
            block -= shift
            block *= scale
        return out

    def info(self):
        return {"mode": self.mode, "description": PREPROCESS[self.mode],
                "shift": self.shift.tolist(), "scale": self.scale.tolist(),
                "train_channel_mean": self.channel_mean.tolist(),
                "train_channel_std": self.channel_std.tolist()}


# ----------------------------------------------------------------------------- PCA

@dataclass
class PCA:
    """Principal components of the preprocessed training rows: project with (x - mean) @ components.

    ``components`` is (3072, k) with orthonormal columns in order of decreasing variance;
    each column's largest-magnitude entry is positive, so the result does not depend on the
    eigensolver's arbitrary signs. ``explained_variance`` holds the k eigenvalues (the
    variances of the projected training data); ``whiten`` divides by their square roots.
    """

    mean: numpy.ndarray  # (3072,) float64, training mean of the preprocessed rows
    components: numpy.ndarray  # (3072, k) float64
    explained_variance: numpy.ndarray  # (k,)
    total_variance: float
    whiten: bool = False

    @classmethod
    def fit(cls, train_x, transform, k, mirrored=False, whiten=False):
        """Fit on uint8 training rows seen through ``transform``, from their 3072x3072 covariance.

        The covariance (``covariance``) is diagonalised with a symmetric eigensolver for the
        top k pairs only (about a second), instead of an SVD of the 100,000 x 3072 data.
        """
        mean, cov = covariance(train_x, transform, mirrored)
        values, vectors = scipy.linalg.eigh(cov, subset_by_index=[FEATURES - k, FEATURES - 1])
        values, vectors = values[::-1], numpy.ascontiguousarray(vectors[:, ::-1])
        peak = numpy.abs(vectors).argmax(axis=0)
        vectors *= numpy.sign(vectors[peak, numpy.arange(k)])
        return cls(mean, vectors, numpy.maximum(values, 0.0), float(numpy.trace(cov)), whiten)

    def project(self, x, transform, dtype=numpy.float32):
        """(N, k) projections of uint8 rows through ``transform``, in chunks, as ``dtype``."""
        weights = self.components
        if self.whiten:
            weights = weights / numpy.sqrt(numpy.maximum(self.explained_variance, 1e-12))
        out = numpy.empty((len(x), weights.shape[1]), dtype=dtype)
        for start, block in zip(range(0, len(x), PCA_CHUNK), _blocks(x, transform)):
            out[start:start + len(block)] = (block - self.mean) @ weights
        return out

    def info(self):
        ratio = self.explained_variance / self.total_variance
        return {"components": int(self.components.shape[1]), "centered": "training mean per feature",
                "whiten": self.whiten, "sign": "largest-magnitude entry of each component positive",
                "explained_variance": self.explained_variance.tolist(),
                "explained_variance_ratio": ratio.tolist(),
                "total_explained_variance_ratio": float(ratio.sum())}


def covariance(train_x, transform, mirrored=False):
    """Mean (3072,) and covariance (3072, 3072) of uint8 rows through ``transform``, in float64.

    Accumulated chunk by chunk from centred rows (two passes), so no float copy of the data
    is made. With ``mirrored=True`` the second half of ``train_x`` must be the mirror of the
    first (as ``add_mirrors`` makes it) and only the first half is read: the mirror is a
    pixel permutation P with P = P^-1, the mean of the union is P-symmetric, and so the
    mirrored half's scatter matrix is the first half's with rows and columns permuted by P.
    Same result as reading all rows, at half the cost.
    """
    if mirrored and len(train_x) % 2:
        raise ValueError("a mirrored training set has an even number of rows")
    rows = train_x[:len(train_x) // 2] if mirrored else train_x
    perm = mirror_permutation()
    mean = numpy.zeros(FEATURES)
    for block in _blocks(rows, transform):
        mean += block.sum(axis=0)
    mean /= len(rows)
    if mirrored:
        mean = (mean + mean[perm]) / 2
    scatter = numpy.zeros((FEATURES, FEATURES))
    for block in _blocks(rows, transform):
        block -= mean
        scatter += block.T @ block
    if mirrored:
        scatter += scatter[numpy.ix_(perm, perm)]
    return mean, scatter / len(train_x)


def _blocks(x, transform, rows=PCA_CHUNK):
    """Chunks of uint8 rows through ``transform``, in float64 (few, large ones: each adds a
    3072x3072 matrix product to the scatter)."""
    for start in range(0, len(x), rows):
        yield transform.apply(x[start:start + rows], numpy.float64)
