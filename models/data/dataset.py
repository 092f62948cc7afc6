"""One entry point, ``load``, from a data set's name to arrays ready for training."""
from dataclasses import dataclass
from pathlib import Path

import numpy

from .cifar import load_cifar
from .errors import DataError
from .preprocess import FEATURES, PCA, PREPROCESS, ChannelTransform, add_mirrors
from .stl10 import load_stl10
from .svhn import load_svhn
from .synthetic import DEFAULT_CLASSES, DEFAULT_SIZE, make_synthetic

NAMES = ("cifar10", "cifar100", "synthetic", "svhn", "stl10")
LABELS = ("coarse", "fine")
# mirror=None means each data set's own default: the paper's mirrors, except for digits (data.svhn).
MIRROR_DEFAULT = {"cifar10": True, "cifar100": True, "synthetic": True, "svhn": False, "stl10": True}


@dataclass(eq=False, repr=False)
class Dataset:
    """Training and test arrays on the host, plus ``info``: what a run's config.json should record.

    ``train_x``/``test_x`` are (N, 3072), (N, 3, 32, 32) or (N, k) after PCA; ``train_y``/
    ``test_y`` are int64 class indices in [0, classes).
    """

    name: str
    train_x: numpy.ndarray
    train_y: numpy.ndarray
    test_x: numpy.ndarray
    test_y: numpy.ndarray
    classes: int
    info: dict
    label_names: tuple = ()
    pca: PCA | None = None

    @property
    def input_shape(self):
        """Shape of one input, e.g. (3072,) for the paper's fully connected networks."""
        return tuple(self.train_x.shape[1:])

    def describe(self):
        """A few lines for the terminal: source, sizes, labels, preprocessing."""
        info, src = self.info, self.info["source"]
        if src.get("files"):
            names = " and ".join(Path(f["file"]).name for f in src["files"])
            origin = (f"from {names} in {src['folder']} "
                      f"({'official release' if src['official'] else 'not the official release'})")
        elif src.get("file"):
            origin = f"from {src['file']} ({'official release' if src['official'] else 'not the official release'})"
        else:
            origin = f"generated (seed {src.get('seed')})"
        labels = f", {info['labels']} labels" if info.get("labels") else ""
        sizes = info["sizes"]
        mirrored = f" = {sizes['train_original']} + mirrors" if info["mirror"] else " (no mirrors)"
        prep = info["preprocess"]
        lines = [f"{self.name}: {self.classes} classes{labels}, {origin}",
                 f"  train x {self.train_x.shape} {self.train_x.dtype}{mirrored}, "
                 f"test x {self.test_x.shape} {self.test_x.dtype}",
                 f"  preprocess {prep['mode']}: {prep['description']}; training channel mean "
                 f"{_fmt(prep['train_channel_mean'])}, std {_fmt(prep['train_channel_std'])}"]
        if info["pca"]:
            pca = info["pca"]
            lines.append(f"  PCA to {pca['components']} dimensions{' (whitened)' if pca['whiten'] else ''}: "
                         f"{100 * pca['total_explained_variance_ratio']:.1f}% of the variance")
        return "\n".join(lines)

    def __repr__(self):
        return f"<Dataset {self.describe().splitlines()[0]}>"


def _fmt(values):
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def load(name, root=None, *, labels="coarse", mirror=None, preprocess="standardize", pca=None,
         whiten=False, flatten=True, dtype=numpy.float32, download=True, synthetic_size=None,
         synthetic_classes=DEFAULT_CLASSES, seed=0, subset=None, opener=None, progress=True):
    """Load a data set, augmented and preprocessed as the paper's experiments use it.

    name: "cifar10", "cifar100", "svhn", "stl10" or "synthetic" (case, "-" and "_" are ignored).
        SVHN (``data.svhn``: 73,257 training and 26,032 test digits, classes = digits 0..9) and
        STL-10 (``data.stl10``: 5,000 training and 8,000 test images, 10 classes, reduced from
        96x96 to 32x32 by 3x3 block means, our choice) are for Fig S7.
    root: folder with the official files; else $SKIP_SINGULARITIES_DATA, else
        ~/.cache/skip-singularities (see ``data.cifar``).
    labels: CIFAR-100's "coarse" 20 superclasses (the paper's, the default) or "fine" 100
        classes; the other sets have one label set and ignore it.
    mirror: add each training image's horizontal mirror (the paper's augmentation: 100,000
        training images); the test set is never augmented. None (the default) is the data
        set's own default (``MIRROR_DEFAULT``): True, except False for SVHN, whose mirrored
        digits are not digits (our choice; ``mirror=True`` mirrors SVHN all the same).
    preprocess: "standardize" (default), "center", "unit" or "raw" (``preprocess.PREPROCESS``);
        statistics always come from the training set (after mirroring).
    pca: None, or k to project onto the training set's first k principal components (the
        paper's 128 for its small networks); ``whiten`` scales each to unit variance.
    flatten: (N, 3072) in CIFAR's channel-major order if True, (N, 3, 32, 32) if False.
    dtype: float32 (default) or float64; uint8 only with preprocess="raw" and no PCA.
    download: fetch a missing official file from its official address (``opener`` replaces
        urllib's for tests; ``progress`` shows a progress bar).
    synthetic_size, synthetic_classes, seed: (train, test) sizes (default (2000, 500)), class
        count and seed of the synthetic set; the CIFAR sets are fixed and ignore the seed.
    subset: None (everything), or (train, test): keep only the first `train` original training
        images (before mirroring, so 2·train with mirrors) and the first `test` test images. For
        quick experiments; the CIFAR files are not sorted by class, so a prefix is a fixed sample
        with every class present (SVHN's and STL-10's order is the files' own; ``data.load``
        does not check their class balance). Preprocessing statistics come from the kept
        training images.

    Every problem (missing or corrupt data, unknown option) raises ``DataError`` with one
    sentence saying what to do; a file that is not the official release gives a
    ``DataWarning`` and is used.
    """
    key = _check_options(name, labels, preprocess, pca, flatten, dtype, synthetic_size, subset)
    mirror = MIRROR_DEFAULT[key] if mirror is None else bool(mirror)
    fetch = {"download": download, "opener": opener, "progress": progress}
    if key == "synthetic":
        train, test = DEFAULT_SIZE if synthetic_size is None else synthetic_size
        raw = make_synthetic(train, test, synthetic_classes, seed)
    elif key == "svhn":
        raw = load_svhn(root, **fetch)
    elif key == "stl10":
        raw = load_stl10(root, **fetch)
    else:
        raw = load_cifar(key, root, labels=labels, **fetch)
    if subset is not None:
        (n_train, n_test), full = subset, (len(raw.train_x), len(raw.test_x))
        if n_train > full[0] or n_test > full[1]:
            raise DataError(f"subset {tuple(subset)} asks for more than the data set has ({full[0]} training and "
                            f"{full[1]} test images).")
        raw.train_x, raw.train_y = raw.train_x[:n_train], raw.train_y[:n_train]
        raw.test_x, raw.test_y = raw.test_x[:n_test], raw.test_y[:n_test]
    train_original = len(raw.train_x)
    train_x, train_y = add_mirrors(raw.train_x, raw.train_y) if mirror else (raw.train_x, raw.train_y)
    test_x = raw.test_x
    raw.train_x = raw.test_x = None  # let the unmirrored copy go
    transform = ChannelTransform.fit(preprocess, train_x)
    fitted = None
    if pca is not None:
        fitted = PCA.fit(train_x, transform, pca, mirrored=mirror, whiten=whiten)
        train_x, test_x = fitted.project(train_x, transform, dtype), fitted.project(test_x, transform, dtype)
        layout = f"(N, {pca}): projections on the training set's principal components"
    else:
        train_x, test_x = transform.apply(train_x, dtype), transform.apply(test_x, dtype)
        layout = "(N, 3072): R, G, B planes of 32x32 pixels, row-major (CIFAR's order)"
        if not flatten:
            train_x, test_x = (x.reshape(len(x), 3, 32, 32) for x in (train_x, test_x))
            layout = "(N, 3, 32, 32): channel, row, column"
    info = {
        "name": key,
        "source": raw.source,
        "labels": labels if key == "cifar100" else None,
        "classes": raw.classes,
        "label_names": list(raw.label_names),
        "mirror": mirror,
        "sizes": {"train": len(train_x), "test": len(test_x), "train_original": train_original,
                  "subset": None if subset is None else [int(n) for n in subset]},
        "preprocess": transform.info(),
        "pca": fitted.info() if fitted else None,
        "layout": layout,
        "dtype": numpy.dtype(dtype).name,
    }
    return Dataset(key, train_x, train_y, test_x, raw.test_y, raw.classes, info, raw.label_names, fitted)


def _check_options(name, labels, preprocess, pca, flatten, dtype, synthetic_size, subset=None):
    """The data set's key; every bad option is rejected here, before any data is read."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in NAMES:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}.")
    if labels not in LABELS:
        raise DataError(f"unknown labels {labels!r}; choose one of {', '.join(LABELS)} "
                        f"(CIFAR-100's 20 superclasses or 100 classes).")
    if preprocess not in PREPROCESS:
        raise DataError(f"unknown preprocess {preprocess!r}; choose one of {', '.join(PREPROCESS)}.")
    if pca is not None and (isinstance(pca, bool) or not isinstance(pca, (int, numpy.integer))
                            or not 1 <= pca <= FEATURES):
        raise DataError(f"pca must be None or a number of components from 1 to {FEATURES}, not {pca!r}.")
    if pca is not None and not flatten:
        raise DataError("pca gives vectors, so it needs flatten=True.")
    try:
        kind = numpy.dtype(dtype)
    except TypeError:
        raise DataError(f"dtype {dtype!r} is not a NumPy type; use float32 or float64.") from None
    if kind.kind != "f" and not (kind == numpy.uint8 and preprocess == "raw" and pca is None):
        raise DataError(f"dtype {kind.name} is not allowed; use float32 or float64 (uint8 only "
                        f"with preprocess='raw' and no PCA).")
    if synthetic_size is not None and key != "synthetic":
        raise DataError(f"synthetic_size applies only to the synthetic data set, not {key}.")
    if synthetic_size is not None and len(synthetic_size) != 2:
        raise DataError(f"synthetic_size must be (train, test), not {synthetic_size!r}.")
    if subset is not None and (len(subset) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, numpy.integer))
                                                        or n < 1 for n in subset)):
        raise DataError(f"subset must be (train, test) with two positive integers, not {subset!r}.")
    return key


def batches(n, batch_size, rng=None):
    """Minibatches of indices into ``n`` examples: one epoch, each example once, in random order.

    ``rng`` is a NumPy Generator (or a seed for one); the order comes from one
    ``rng.permutation(n)``, so a seeded generator gives a reproducible epoch. The last batch
    is kept even when smaller than ``batch_size``, so every example is seen every epoch (the
    paper's 100,000 images in batches of 500 divide exactly).
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    order = numpy.random.default_rng(rng).permutation(int(n))
    return (order[start:start + int(batch_size)] for start in range(0, int(n), int(batch_size)))

