"""What makes a trained net: the paper's networks, the data sets, the training loop and its run folders.

    MLP        every fully connected variant (plain, residual, hyperres; skip matrices;
               malicious init; BiasReg / BiasL2Reg; one batch-norm layer)
    ConvNet    plain and residual CIFAR conv nets (beyond the paper)
    build      a model from a flat config dict (the inverse of model.config)
    options    the command line's nets as build and data configs, and the run names `train` gives them
    objective  cross-entropy + the model's penalty: one formula for training and Hessians
    skips      the fixed skip matrices (identity, ortho, k<N>, beta<value>)
    data/      CIFAR-10, CIFAR-100 and a synthetic stand-in, loaded as the paper's experiments use them
    training/  the one resumable training loop, its run folders, the hooks measurements attach to,
               and what resuming a run may change (training/resume.py)
    files      files that are complete or absent (atomic writes, JSON, JSON lines)
"""
from . import skips
from .build import MODEL_KEYS, build, model_keys
from .conv import ConvNet
from .mlp import MLP
from .objective import BIAS_TARGETS, DEFAULT_BIAS_LAMBDA, objective


def count_parameters(model):
    """The number of learned scalars (buffers such as skip matrices are not counted)."""
    return sum(p.size for p in model.parameters())
