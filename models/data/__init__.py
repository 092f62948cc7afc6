"""CIFAR-10, CIFAR-100 and a synthetic stand-in, loaded as the paper's experiments use them.

    from models import data
    ds = data.load("cifar100")          # coarse labels, mirrors added, standardized, (N, 3072) float32
    for idx in data.batches(len(ds.train_x), 500, rng):
        x, y = ds.train_x[idx], ds.train_y[idx]

The official tarballs are read from ``root``, else $SKIP_SINGULARITIES_DATA, else
~/.cache/skip-singularities, and downloaded there when missing (offline, put them there by
hand). ``ds.info`` records the source file, its MD5, whether it is the official
release, the preprocessing statistics, the sizes and the PCA explained variance.

Modules: ``cifar`` (finding, downloading, checking and reading tarballs), ``preprocess``
(mirroring, per-channel maps, PCA), ``synthetic``, ``dataset`` (``load``, ``Dataset``,
``batches``), ``errors``.
"""
from .cifar import DEFAULT_ROOT, ENV_VAR, SOURCES, data_root
from .dataset import LABELS, NAMES, Dataset, batches, load
from .errors import DataError, DataWarning
from .preprocess import PCA, PREPROCESS, ChannelTransform, add_mirrors, mirror_permutation
from .synthetic import make_synthetic

__all__ = ["load", "Dataset", "batches", "DataError", "DataWarning", "NAMES", "LABELS", "PREPROCESS",
           "SOURCES", "ENV_VAR", "DEFAULT_ROOT", "data_root", "PCA", "ChannelTransform",
           "add_mirrors", "mirror_permutation", "make_synthetic"]
