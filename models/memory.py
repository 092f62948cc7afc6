"""What a net costs in memory, estimated from its config before anything is built.

A net too large for the machine otherwise fails in its first allocation (a MemoryError deep
in NumPy, or a machine that swaps for hours); `check_fits` refuses it first, in one sentence
with the estimate and what the machine has. The estimate, in bytes of the model's dtype,
times the members of an ensemble:

    weights       every parameter (counted as models/mlp.py and models/conv.py make them), the
                  fixed skip matrices and BiasReg targets (buffers), and one gradient per parameter
    optimizer     Adam's two moments: two more copies of the parameters (none for a measurement)
    activations   one step's: batch x the units of every layer x ACTIVATION_COPIES (the layer's
                  pre-activation, its ReLU, its output, and the gradient flowing back through it)

It is a floor, not a ceiling: the temporaries of single operations come on top, so a net
refused here would not have trained, while one that passes may still be tight.
"""
import math
import os

ACTIVATION_COPIES = 4
ADAM_COPIES = 2
IMAGE = (3, 32, 32)                  # every data set's images (STL-10's averaged down)
CLASSES = {"cifar10": 10, "cifar100": 20, "svhn": 10, "stl10": 10}


class TooLarge(ValueError):
    """The net does not fit in the memory of the machine (one sentence: the estimate and what there is)."""


def data_shape(data):
    """(inputs, classes) a data config (the arguments of models.data.load) gives, without loading it.

    inputs: the features of a flat row (3072, or the PCA's components) or IMAGE for images.
    """
    from models.data.synthetic import DEFAULT_CLASSES
    name = str(data.get("name", "")).lower().replace("-", "").replace("_", "")
    classes = 100 if name == "cifar100" and data.get("labels") == "fine" else \
        CLASSES.get(name, data.get("synthetic_classes", DEFAULT_CLASSES))
    if not data.get("flatten", True):
        return IMAGE, classes
    return data.get("pca") or math.prod(IMAGE), classes


def counts(model, inputs, classes):
    """(parameters, buffers, units per example over all layers) of a models.build config on `inputs`."""
    if model.get("arch", "mlp") == "conv":
        return _conv_counts(model, inputs, classes)
    width, depth = int(model.get("width", 128)), int(model.get("depth", 30))
    inputs = inputs if isinstance(inputs, int) else math.prod(inputs)
    skip = model.get("skip", "plain")
    parameters = inputs * width + width + (depth - 1) * (width * width + width) + width * classes + classes
    parameters += 2 * width if model.get("bn_layer") is not None else 0
    parameters += depth - 1 if model.get("branch_init") == "skipinit" else 0
    matrices = 0
    if skip == "residual" and model.get("skip_matrix") not in (None, "identity"):
        matrices = 1 if model.get("skip_shared", True) else depth - 1
    if skip == "hyperres":      # one Q_k per source, or per (source, target): Σ_{t=3}^{L} (t-2)
        matrices = (depth - 2) * (depth - 1) // 2 if model.get("hyper_q_draw") == "per-pair" else depth - 2
    buffers = matrices * width * width + (depth * width if model.get("bias_reg") is not None else 0)
    buffers += 2 * width if model.get("bn_layer") is not None else 0          # the BN's running mean and variance
    units = inputs + depth * width + classes
    if skip == "hyperres" and model.get("hyper_q_draw") == "per-pair":   # the sources put side by side, per layer
        units += width * ((depth - 2) * (depth - 1) // 2 - 1)
    return parameters, buffers, units


def _conv_counts(model, inputs, classes):
    widths = [int(w) for w in model.get("widths", (16, 32, 64))]
    blocks = int(model.get("blocks", 3))
    channels, side = (inputs[0], inputs[-1]) if not isinstance(inputs, int) else (IMAGE[0], IMAGE[-1])
    channels = int(model.get("in_channels", channels))
    layers = [(channels, widths[0], side)]                 # (in, out, side of the output) per conv
    for s, c in enumerate(widths):
        for b in range(blocks):
            if b == 0 and s > 0:
                side = -(-side // 2)
            layers.append((widths[s - 1] if b == 0 and s > 0 else c, c, side))
    parameters = sum(a * c * 9 + c for a, c, _ in layers) + widths[-1] * classes + classes
    parameters += sum(2 * c for _, c, _ in layers) if model.get("batch_norm") else 0
    buffers = sum(c for _, c, _ in layers) if model.get("bias_reg") is not None else 0
    buffers += sum(2 * c for _, c, _ in layers) if model.get("batch_norm") else 0   # running mean and variance
    units = channels * inputs[-1] * inputs[-2] if not isinstance(inputs, int) else math.prod(IMAGE)
    return parameters, buffers, units + sum(c * n * n for _, c, n in layers) + classes


def estimate(model, inputs, classes, batch_size, dtype="float32", adam=True, members=1):
    """{"weights", "optimizer", "activations", "total"}: bytes to train (adam) or measure a net, as above."""
    parameters, buffers, units = counts(model, inputs, classes)
    size = 8 if str(dtype) == "float64" else 4
    parts = {"weights": (2 * parameters + buffers) * size,
             "optimizer": ADAM_COPIES * parameters * size if adam else 0,
             "activations": ACTIVATION_COPIES * int(batch_size) * units * size}
    parts = {k: v * int(members) for k, v in parts.items()}
    return dict(parts, total=sum(parts.values()))


def available(device="cpu"):
    """(bytes free for a new net, where they are) on `device`; None when that cannot be read.

    The host: MemAvailable of /proc/meminfo (what can be allocated without swapping), else the
    physical memory. A GPU: its free memory, when CuPy can say.
    """
    from minigrad import device_kind
    if device_kind(device) == "cuda":
        try:
            import minigrad
            return int(minigrad.get_device(device).xp.cuda.runtime.memGetInfo()[0]), "free on the GPU"
        except Exception:       # no CuPy, no driver: nothing to compare with, so nothing is refused
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "available"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of physical memory"
    except (OSError, ValueError, AttributeError):
        return None


def gib(n):
    return f"{n / 2 ** 30:.3g} GiB" if n >= 2 ** 30 / 100 else f"{n / 2 ** 20:.3g} MiB"


def check_fits(model, inputs, classes, batch_size, dtype="float32", device="cpu", adam=True, members=1, have=None):
    """Refuse (TooLarge) a net whose estimate exceeds the memory the device has; returns the estimate.

    have: (bytes, where) to compare with instead of `available(device)` (tests).
    """
    need = estimate(model, inputs, classes, batch_size, dtype, adam, members)
    have = available(device) if have is None else have
    if have is not None and need["total"] > have[0]:
        what = "train" if adam else "measure"
        ensemble = f" ({members} members)" if members > 1 else ""
        adam_part = f", Adam's state {gib(need['optimizer'])}" if adam else ""
        raise TooLarge(f"this net{ensemble} needs about {gib(need['total'])} of memory to {what} (weights and "
                       f"gradients {gib(need['weights'])}{adam_part}, activations of a batch of {batch_size} "
                       f"{gib(need['activations'])}) but the machine has {gib(have[0])} {have[1]}; choose a smaller "
                       "net (width, depth) or batch")
    return need
