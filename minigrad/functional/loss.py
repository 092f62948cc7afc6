"""Losses: softmax cross-entropy (a primitive, see ops/logits.py) and mean squared error."""
from ..ops import mean, softmax_cross_entropy


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of logits (N, C) against integer labels (N,)."""
    return softmax_cross_entropy(logits, labels)


def mse_loss(prediction, target):
    """Mean over all entries of (prediction - target)²."""
    diff = prediction - target
    return mean(diff * diff)
