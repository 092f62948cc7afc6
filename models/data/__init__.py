"""CIFAR-10, CIFAR-100, SVHN, STL-10 and a synthetic stand-in, loaded as the paper's experiments use them.

    from models import data
    ds = data.load("cifar100")          # coarse labels, mirrors added, standardized, (N, 3072) float32
    for idx in data.batches(len(ds.train_x), 500, rng):
        x, y = ds.train_x[idx], ds.train_y[idx]

The official files (CIFAR's tarballs, SVHN's train_32x32.mat and test_32x32.mat, STL-10's
stl10_binary.tar.gz) are read from ``root``, else $SKIP_SINGULARITIES_DATA, else
~/.cache/skip-singularities, and downloaded there when missing (offline, put them there by
hand). ``ds.info`` records the source file(s), MD5(s), whether each is the official
release, the preprocessing statistics, the sizes and the PCA explained variance.

Every set becomes CIFAR's form (uint8 rows of 3072 bytes, 32x32 RGB) before augmentation and
preprocessing, so the paper's 3072-input nets take any of them: SVHN's labels 1..10 become
the digits 0..9 and its images are not mirrored by default; STL-10's 96x96 images are
reduced to 32x32 by 3x3 block means (our choice; the paper gives no settings for Fig S7).

Modules: ``cifar`` (finding, downloading, checking and reading tarballs, shared by all
official files), ``svhn``, ``stl10``, ``preprocess`` (mirroring, per-channel maps, PCA),
``synthetic``, ``dataset`` (``load``, ``Dataset``, ``batches``), ``errors``.
"""
from .cifar import DEFAULT_ROOT, ENV_VAR, SOURCES, data_root
from .dataset import LABELS, MIRROR_DEFAULT, NAMES, Dataset, batches, load
from .errors import DataError, DataWarning
from .preprocess import PCA, PREPROCESS, ChannelTransform, add_mirrors, mirror_permutation
from .stl10 import SOURCE as STL10_SOURCE
from .svhn import SOURCES as SVHN_SOURCES
from .synthetic import make_synthetic

__all__ = ["load", "Dataset", "batches", "DataError", "DataWarning", "NAMES", "LABELS", "PREPROCESS",
           "SOURCES", "ENV_VAR", "DEFAULT_ROOT", "data_root", "PCA", "ChannelTransform",
           "add_mirrors", "mirror_permutation", "make_synthetic", "SVHN_SOURCES", "STL10_SOURCE",
           "MIRROR_DEFAULT"]
