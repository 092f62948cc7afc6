"""The settings of a saved run checked field by field, before anything is built from them.

A config.json travels between machines and can be edited; a field of the wrong type or out of
range ("depth": "four", "lr": -1) would otherwise surface as a ValueError deep in a constructor.
`check_config` names the first such field (model.depth, data.pca, lr, ...) in one sentence;
read_config turns it into a RunError naming the file, for `train --resume` and `--run` alike.
"""
import inspect
import math
import numbers

from models.build import MODEL_KEYS
from models.conv import CONV_INITS, CONV_SKIPS
from models.mlp import BRANCH_INITS, HYPER_Q_DRAWS, INITS, SKIP_SCALES, SKIPS

DTYPES = ("float32", "float64")


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(field, what, value):
    raise ValueError(f"{field} must be {what}, not {value!r}")


def _at_least(field, value, minimum, optional=False):
    if optional and value is None:
        return
    if not _integer(value) or value < minimum:
        _refuse(field, f"an integer >= {minimum}" + (" or null" if optional else ""), value)


def _one_of(field, value, choices, optional=False):
    if not (optional and value is None) and value not in choices:
        _refuse(field, "one of " + ", ".join(map(repr, choices)) + (" or null" if optional else ""), value)


def _flag(field, value, optional=False):
    if not (optional and value is None) and not isinstance(value, bool):
        _refuse(field, "true or false" + (" or null" if optional else ""), value)


def _pair(field, value, check):
    if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(check, value))):
        _refuse(field, "null or a pair of " + ("positive integers" if check is _positive else "finite numbers"), value)


def _positive(value):
    return _integer(value) and value >= 1


def check_config(config):
    """Raise ValueError naming the first field of a TrainConfig whose type or range is wrong (None when all fit)."""
    _at_least("epochs", config.epochs, 0)
    _at_least("batch_size", config.batch_size, 1)
    _at_least("eval_batch_size", config.eval_batch_size, 1)
    _at_least("seed", config.seed, 0)
    if not _number(config.lr) or config.lr <= 0:
        _refuse("lr", "a positive finite number", config.lr)
    _one_of("dtype", config.dtype, DTYPES)
    if not isinstance(config.device, str):
        _refuse("device", "a device name such as 'cpu' or 'cuda'", config.device)
    _flag("penalty", config.penalty)
    if not isinstance(config.model, dict):
        _refuse("model", "an object of model settings", config.model)
    if not isinstance(config.data, dict):
        _refuse("data", "an object of data settings", config.data)
    check_model(config.model)
    check_data(config.data)


def check_model(model, field="model"):
    """The fields of a models.build config: its keys, sizes, choices and numbers."""
    arch = model.get("arch", "mlp")
    _one_of(f"{field}.arch", arch, tuple(MODEL_KEYS))
    unknown = sorted(set(model) - set(MODEL_KEYS[arch]), key=str)
    if unknown:
        _refuse(f"{field}.{unknown[0]}", f"absent (not a setting of a {arch} net)", model[unknown[0]])
    get = model.get
    for key in ("classes", "inputs", "in_channels", "depth", "width", "blocks"):
        if key in model:
            _at_least(f"{field}.{key}", model[key], 1)
    _at_least(f"{field}.seed", get("seed"), 0, optional=True)
    _one_of(f"{field}.dtype", get("dtype"), DTYPES, optional=True)
    if arch == "mlp":
        _one_of(f"{field}.skip", get("skip", "plain"), SKIPS)
        _one_of(f"{field}.init", get("init", "glorot_normal"), INITS)
        _one_of(f"{field}.skip_scale", get("skip_scale", "none"), SKIP_SCALES)
        _one_of(f"{field}.branch_init", get("branch_init", "glorot"), BRANCH_INITS)
        _one_of(f"{field}.hyper_q_draw", get("hyper_q_draw", "per-source"), HYPER_Q_DRAWS)
        _flag(f"{field}.skip_shared", get("skip_shared", True))
        for key in ("skip_matrix", "hyper_matrix"):
            if get(key) is not None and not isinstance(get(key), str):
                _refuse(f"{field}.{key}", "null or a skip matrix name such as 'ortho' or 'k32'", get(key))
        bn = get("bn_layer")
        if bn is not None and (not _integer(bn) or not 1 <= bn <= get("depth", 30)):
            _refuse(f"{field}.bn_layer", f"null or an integer from 1 to the depth ({get('depth', 30)})", bn)
    else:
        _one_of(f"{field}.skip", get("skip", "plain"), CONV_SKIPS)
        _one_of(f"{field}.init", get("init", "glorot_normal"), CONV_INITS)
        _flag(f"{field}.batch_norm", get("batch_norm", False))
        widths = get("widths", [16, 32, 64])
        if not isinstance(widths, (list, tuple)) or not widths or not all(map(_positive, widths)):
            _refuse(f"{field}.widths", "a non-empty list of positive integers", widths)
    reg = get("bias_reg")
    if not (reg is None or isinstance(reg, str) or (isinstance(reg, (list, tuple)) and len(reg) == 2
                                                     and all(map(_number, reg)))):
        _refuse(f"{field}.bias_reg", "null, a name such as 'cifar100' or 'l2', or a pair [mu, sigma]", reg)
    lam = get("bias_lambda")
    if lam is not None and (not _number(lam) or lam < 0):
        _refuse(f"{field}.bias_lambda", "null or a finite number >= 0", lam)


def check_data(data, field="data"):
    """The fields of a models.data.load config: its keys, names, choices and sizes."""
    from models.data.dataset import LABELS, NAMES, load
    from models.data.preprocess import PREPROCESS
    known = [name for name, p in inspect.signature(load).parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in ("opener", "dtype")]
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        _refuse(f"{field}.{unknown[0]}", "absent (not a setting of the data)", data[unknown[0]])
    name = data.get("name")
    if not isinstance(name, str) or name.lower().replace("-", "").replace("_", "") not in NAMES:
        _refuse(f"{field}.name", "one of " + ", ".join(NAMES), name)
    get = data.get
    if get("root") is not None and not isinstance(get("root"), str):
        _refuse(f"{field}.root", "null or a folder", get("root"))
    _one_of(f"{field}.labels", get("labels", "coarse"), LABELS)
    _one_of(f"{field}.preprocess", get("preprocess", "standardize"), tuple(PREPROCESS))
    _at_least(f"{field}.pca", get("pca"), 1, optional=True)
    _at_least(f"{field}.synthetic_classes", get("synthetic_classes", 20), 1)
    _at_least(f"{field}.seed", get("seed", 0), 0)
    _flag(f"{field}.mirror", get("mirror"), optional=True)
    for key in ("flatten", "download", "whiten", "progress"):
        _flag(f"{field}.{key}", get(key, True))
    _pair(f"{field}.subset", get("subset"), _positive)
    _pair(f"{field}.synthetic_size", get("synthetic_size"), _positive)
