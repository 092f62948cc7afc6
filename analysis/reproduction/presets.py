"""Presets: how much of the paper's protocol a reproduction runs.

A figure's definition (analysis/figures/) states its own seeds and epochs per
preset; a preset fixes what all figures share: which data, how much of it, how
large the nets are, and how many examples and probes the measurements use.

* paper: the paper's protocol. Full CIFAR (100,000 mirrored training images),
  its depths and widths, Hessian moments from 10 probes on 1,024 examples.
* quick: the same nets on a fixed prefix of CIFAR (5,000 training images + their
  mirrors, 2,000 test images) for a few epochs, so that every figure finishes in
  minutes on 2 CPU cores. It tests whether an ordering appears early in training;
  the paper's curves run 100 epochs on 20x the data, so a claim that fails here may
  still need the paper preset to show (each report says so).
* quick-full: the quick preset's nets, epochs, seeds and measurements on the full
  training set (100,000 mirrored images): the check of whether the quick subset's
  10,000 images point the same way as all of them (docs/reproduction.md).
* test: tiny nets on a small synthetic set, for the test suite (seconds per figure);
  its numbers mean nothing.

The settings were fixed before any quick run was looked at; only the run time
was measured to choose them (the paper's protocols cost about 50 runs x 100 epochs
per curve, which is a GPU job).
"""
from dataclasses import dataclass

PRESETS = ("quick", "paper", "quick-full", "test")


@dataclass(frozen=True)
class Preset:
    name: str
    subset: tuple | None          # (training originals, test images) kept by data.load; None: all
    synthetic: bool = False       # replace CIFAR by the synthetic set (tests)
    synthetic_size: tuple = (120, 60)
    max_depth: int | None = None  # shrink the nets (tests)
    max_width: int | None = None
    hessian_samples: int = 1024   # examples the Hessian is averaged over (moments and SLQ)
    exact_samples: int = 1024     # ... for the exact small-net spectra (cost: one HVP per parameter)
    probes: int = 10              # Skilling probes (two HVPs each)
    slq_steps: int = 100
    meter_samples: int = 1000
    budget: str | None = None     # whose seeds and epochs the figures use (default: this preset's own)

    def pick(self, values):
        """The value for this preset from a {preset name: value} dict (a figure's seeds or epochs)."""
        return values[self.budget or self.name]

    def shape(self, depth, width):
        """(depth, width) of a net the paper gives as depth x width, shrunk for the test preset."""
        return (min(depth, self.max_depth or depth), min(width, self.max_width or width))

    def data(self, name, subset=None, **options):
        """The data.load arguments for a paper data set (cifar10, cifar100), as this preset uses it.

        subset overrides the preset's (a figure whose nets are much slower, like the conv nets)."""
        if self.synthetic and name in ("cifar10", "cifar100"):
            classes = 10 if name == "cifar10" else 20
            return {"name": "synthetic", "synthetic_size": list(self.synthetic_size), "synthetic_classes": classes,
                    **options}
        out = {"name": name, **options}
        subset = subset or self.subset
        if subset:
            out["subset"] = list(subset)
        return out

    def hessian_epochs(self, epochs):
        """When the Hessian index is measured in a run of `epochs` epochs: early epochs densely, then sparser."""
        if self.name == "paper":
            return sorted({0, 1, 2, 3, 5} | set(range(10, epochs + 1, 10)) | {epochs})
        return sorted({0, min(2, epochs), epochs})


PRESET = {
    "paper": Preset("paper", subset=None),
    "quick": Preset("quick", subset=(5000, 2000), hessian_samples=512, exact_samples=256, probes=5,
                    slq_steps=100, meter_samples=500),
    "quick-full": Preset("quick-full", subset=None, hessian_samples=512, exact_samples=256, probes=5, slq_steps=100,
                         meter_samples=500, budget="quick"),
    "test": Preset("test", subset=None, synthetic=True, max_depth=4, max_width=8, hessian_samples=32,
                   exact_samples=16, probes=2, slq_steps=8, meter_samples=40),
}


def get(name):
    if name not in PRESET:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return PRESET[name]


# What a run's data config (Preset.data, TrainConfig.data) amounts to, without loading it: the figures' budget line
# and chance level. The official sets' sizes and class counts are those data.load reads (models/data).
TRAINING_ORIGINALS = {"cifar10": 50000, "cifar100": 50000, "svhn": 73257, "stl10": 5000}
CLASSES = {"cifar10": 10, "cifar100": {"coarse": 20, "fine": 100}, "svhn": 10, "stl10": 10}


def _data_name(data):
    return str(data["name"]).lower().replace("-", "").replace("_", "")


def classes(data):
    """The number of classes a data config's labels have (CIFAR-100: its 20 coarse superclasses unless 'fine')."""
    from models.data.synthetic import DEFAULT_CLASSES
    name = _data_name(data)
    if name == "synthetic":
        return int(data.get("synthetic_classes", DEFAULT_CLASSES))
    count = CLASSES[name]
    return count[data.get("labels", "coarse")] if isinstance(count, dict) else count


def training_images(data):
    """(training images a run sees, originals before mirroring) of a data config: its subset (or the whole set),
    doubled by the mirrors data.load adds."""
    from models.data import MIRROR_DEFAULT
    from models.data.synthetic import DEFAULT_SIZE
    name = _data_name(data)
    if name == "synthetic":
        originals = int((data.get("synthetic_size") or DEFAULT_SIZE)[0])
    else:
        originals = int(data["subset"][0]) if data.get("subset") else TRAINING_ORIGINALS[name]
    mirror = data.get("mirror")
    return originals * (2 if (MIRROR_DEFAULT[name] if mirror is None else mirror) else 1), originals
