"""A synthetic data set with CIFAR's shape, for tests and for trying the tools without CIFAR.

Each class has a fixed colour pattern: random 8x8 per-channel blocks blown up to 32x32, so
the patterns are smooth like images and stay distinct after mirroring. An image is mid-grey
(128) plus 6 grey levels times its class pattern plus Gaussian pixel noise of std 50,
rounded and clipped to uint8. Single pixels are mostly noise, but the class signal adds up
over the image: a nearest-class-mean classifier gets nearly all of the default test set
right, so a network can fit it.
"""
import numpy

from .errors import DataError
from .preprocess import CHANNELS, FEATURES, SIDE
from .raw import RawData

GREY, SIGNAL, NOISE, BLOCK = 128.0, 6.0, 50.0, 4
DEFAULT_SIZE = (2000, 500)
DEFAULT_CLASSES = 20


def make_synthetic(train=DEFAULT_SIZE[0], test=DEFAULT_SIZE[1], classes=DEFAULT_CLASSES, seed=0):
    """RawData of ``train`` and ``test`` uint8 images in ``classes`` balanced classes.

    Deterministic in ``seed``; the class patterns, training set and test set come from
    separate streams of the seed, so changing one size leaves the other set unchanged.
    """
    for what, value, least in (("train size", train, 1), ("test size", test, 1), ("classes", classes, 2)):
        if int(value) != value or value < least:
            raise DataError(f"synthetic {what} must be an integer of at least {least}, not {value!r}.")
    streams = [numpy.random.default_rng(s) for s in numpy.random.SeedSequence(seed).spawn(3)]
    coarse = streams[0].standard_normal((classes, CHANNELS, SIDE // BLOCK, SIDE // BLOCK))
    patterns = numpy.kron(coarse, numpy.ones((1, 1, BLOCK, BLOCK))).reshape(classes, FEATURES)
    train_x, train_y = _draw(streams[1], int(train), patterns)
    test_x, test_y = _draw(streams[2], int(test), patterns)
    source = {"file": None, "generator": "data.synthetic.make_synthetic", "seed": seed,
              "signal": SIGNAL, "noise": NOISE, "official": None, "md5": None}
    return RawData(train_x, train_y, test_x, test_y, int(classes),
                   tuple(f"class_{c}" for c in range(classes)), source)


def _draw(rng, n, patterns):
    classes = len(patterns)
    y = rng.permutation(numpy.arange(n) % classes).astype(numpy.int64)
    x = numpy.empty((n, FEATURES), dtype=numpy.uint8)
    for start in range(0, n, 4096):  # bounded float64 temporaries
        labels = y[start:start + 4096]
        pixels = GREY + SIGNAL * patterns[labels] + NOISE * rng.standard_normal((len(labels), FEATURES))
        x[start:start + 4096] = numpy.clip(numpy.rint(pixels), 0, 255)
    return x, y
