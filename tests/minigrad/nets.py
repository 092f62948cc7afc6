"""A residual ReLU net from minigrad.nn alone: the engine's tests need a deep net with skips, not the lab's models."""
import numpy

import minigrad as mg
from minigrad import nn


class ResidualMLP(nn.Module):
    """x -> h = relu(W_0 x + b_0), then depth - 1 skips h -> h + relu(W_l h + b_l), then a linear read-out."""

    def __init__(self, inputs, width, depth, classes, rng=None, dtype=numpy.float32):
        rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
        sizes = [inputs] + [width] * depth
        self.hidden = [nn.Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])]
        self.out = nn.Linear(width, classes, rng=rng, dtype=dtype)

    def forward(self, x):
        h = mg.relu(self.hidden[0](x))
        for layer in self.hidden[1:]:
            h = h + mg.relu(layer(h))
        return self.out(h)
