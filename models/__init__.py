"""The paper's networks, as minigrad Modules, and the objective they are trained on.

    MLP        every fully connected variant (plain, residual, hyperres; skip matrices;
               malicious init; BiasReg / BiasL2Reg; one batch-norm layer)
    ConvNet    plain and residual CIFAR conv nets (beyond the paper)
    build      a model from a flat config dict (the inverse of model.config)
    objective  cross-entropy + the model's penalty: one formula for training and Hessians
    skips      the fixed skip matrices (identity, ortho, k<N>, beta<value>)
"""
from . import skips
from .build import MODEL_KEYS, build, from_config, model_keys
from .conv import ConvNet
from .mlp import MLP
from .objective import BIAS_TARGETS, DEFAULT_BIAS_LAMBDA, objective


def count_parameters(model):
    """The number of learned scalars (buffers such as skip matrices are not counted)."""
    return sum(p.size for p in model.parameters())
