"""Batch normalization, composed from engine ops (so exact to every order).

Train mode normalizes with the batch's own mean and (biased) variance, which are
functions of x: their derivatives are part of the graph. Eval mode uses the
running estimates as constants, which makes the layer an affine map of x. That
is the mode a Hessian operator must use, so that the same input always gives the
same matrix.
"""
from ..ops import mean


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Normalize over every axis but the channel axis 1 of x (N, C) or (N, C, H, W).

    running_mean and running_var are arrays updated in place in train mode:
        running ← (1 - momentum)·running + momentum·batch statistic
    (the unbiased variance, as PyTorch does).

    The S members of an ensemble pass x (S, N, C) with gamma, beta and the running
    statistics of shape (S, 1, C): each member is normalized over its own batch axis 1.
    """
    if gamma.ndim == 3:
        axes, shape = (1,), gamma.shape
    else:
        axes = (0,) if x.ndim == 2 else (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        count = 1
        for a in axes:
            count *= x.shape[a]
        if count < 2:
            raise ValueError("batch norm in train mode needs more than one value per channel")
        mu = mean(x, axes, keepdims=True)
        centred = x - mu
        var = mean(centred * centred, axes, keepdims=True)
        running_mean *= 1 - momentum
        running_mean += momentum * mu.data.reshape(running_mean.shape)
        running_var *= 1 - momentum
        running_var += (momentum * count / (count - 1)) * var.data.reshape(running_var.shape)
    else:
        centred = x - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    normalized = centred * (var + eps) ** -0.5
    return normalized * gamma.reshape(shape) + beta.reshape(shape)
