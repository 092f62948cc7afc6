"""Models from flat config dicts: `build(config)`, the inverse of `model.config`.

The training loop stores `model.config` (JSON-ready: numbers, strings, lists,
None) in config.json and rebuilds the same model, weights and buffers included,
with `build(config)`. Keys (all optional except as noted; defaults are the
constructors'):

    arch          'mlp' (default) | 'conv'
    mlp:   inputs, width, depth, classes, skip, skip_matrix, skip_shared, hyper_matrix,
           init, bias_reg, bias_lambda, bn_layer, skip_scale, branch_init, hyper_q_draw, seed, dtype
    conv:  blocks, widths, classes, skip, in_channels, batch_norm, init, bias_reg, bias_lambda, seed, dtype

`seed` is the integer the generator is seeded with (None: fresh entropy, not
reproducible). A key that is not listed for the arch raises ValueError; callers
whose config holds training keys too can pick the model's with `model_keys(arch)`.
"""
from .conv import ConvNet
from .mlp import MLP

MODEL_KEYS = {
    "mlp": ("arch", "inputs", "width", "depth", "classes", "skip", "skip_matrix", "skip_shared", "hyper_matrix",
            "init", "bias_reg", "bias_lambda", "bn_layer", "skip_scale", "branch_init", "hyper_q_draw", "seed", "dtype"),
    "conv": ("arch", "blocks", "widths", "classes", "skip", "in_channels", "batch_norm", "init", "bias_reg",
             "bias_lambda", "seed", "dtype"),
}
_CLASSES = {"mlp": MLP, "conv": ConvNet}


def model_keys(arch="mlp"):
    """The config keys `build` accepts for `arch`."""
    if arch not in MODEL_KEYS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(MODEL_KEYS)}.")
    return MODEL_KEYS[arch]


def build(config=None, **overrides):
    """The model a flat config dict describes (see the module docstring for the keys).

    Keyword arguments override or add keys: build(saved, seed=3, dtype="float64").
    """
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"build needs a dict of model settings; got {type(config).__name__}.")
    config = {**(config or {}), **overrides}
    arch = config.get("arch", "mlp")
    keys = model_keys(arch)
    unknown = sorted(set(config) - set(keys))
    if unknown:
        raise ValueError(f"unknown config keys {unknown} for arch {arch!r}; valid keys are: {', '.join(keys)}.")
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    if "seed" in kwargs:
        kwargs["rng"] = kwargs.pop("seed")
    if isinstance(kwargs.get("bias_reg"), list):
        kwargs["bias_reg"] = tuple(kwargs["bias_reg"])
    return _CLASSES[arch](**kwargs)

