"""Fully connected ReLU networks of PAPER.md §2.3: plain and identity-residual.

    plain:     x_{l+1} = f(W_l x_l + b_{l+1})                 l = 0 .. L-1
    residual:  x_1 = f(W_0 x_0 + b_1),  x_{l+1} = f(W_l x_l + b_{l+1}) + x_l   l = 1 .. L-1

with f = ReLU, the skip added after the ReLU and no skip from the input layer;
a linear softmax layer reads x_L. Weights Glorot normal, biases zero.
"""
import numpy

from minigrad import nn, relu


class MLP(nn.Module):
    def __init__(self, inputs=3072, width=128, depth=30, classes=20, skip="plain", rng=None,
                 dtype=numpy.float32):
        if skip not in ("plain", "residual"):
            raise ValueError(f"unknown skip type {skip!r}; choose plain or residual")
        rng = numpy.random.default_rng(rng)
        sizes = [inputs] + [width] * depth
        self.hidden = [nn.Linear(a, b, rng=rng, dtype=dtype) for a, b in zip(sizes, sizes[1:])]
        self.output = nn.Linear(width, classes, rng=rng, dtype=dtype)
        self.skip = skip

    def forward(self, x):
        for l, layer in enumerate(self.hidden):
            h = relu(layer(x))
            x = h + x if self.skip == "residual" and l > 0 else h
        return self.output(x)
