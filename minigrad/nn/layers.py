"""The standard layers. Each holds Parameters drawn by an initializer and calls a function."""
import numpy

from .. import functional as F
from ..ops import linear, relu
from . import init
from .module import Module, Parameter


def _rng(rng):
    return rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out, in); W from `init` (Glorot normal by default), b = 0."""

    def __init__(self, in_features, out_features, bias=True, init_weight="glorot_normal", rng=None,
                 dtype=numpy.float32):
        rng = _rng(rng)
        self.weight = Parameter(init.get(init_weight)(rng, (out_features, in_features), dtype))
        self.bias = Parameter(numpy.zeros(out_features, dtype)) if bias else None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        out, inp = self.weight.shape
        return f"{inp}, {out}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution with a kernel of shape (out, in, kh, kw); He normal by default, bias 0."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 init_weight="he_normal", rng=None, dtype=numpy.float32):
        rng = _rng(rng)
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.weight = Parameter(init.get(init_weight)(rng, (out_channels, in_channels, kh, kw), dtype))
        self.bias = Parameter(numpy.zeros(out_channels, dtype)) if bias else None
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        oc, c, kh, kw = self.weight.shape
        return f"{c}, {oc}, kernel=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


class _BatchNorm(Module):
    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=numpy.float32):
        self.gamma = Parameter(numpy.ones(num_features, dtype))
        self.beta = Parameter(numpy.zeros(num_features, dtype))
        self.running_mean = numpy.zeros(num_features, dtype)
        self.running_var = numpy.ones(num_features, dtype)
        self.momentum, self.eps = momentum, eps

    def forward(self, x):
        expected = self.expected_ndim + (self.gamma.ndim == 3)     # an ensemble's members: one more, leading axis
        if x.ndim != expected:
            raise ValueError(f"{type(self).__name__} expects {expected}-D input, got shape {x.shape}")
        return F.batch_norm(x, self.gamma, self.beta, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.gamma.shape[-1]}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features (N, C)."""
    expected_ndim = 2


class BatchNorm2d(_BatchNorm):
    """Batch normalization of channels (N, C, H, W)."""
    expected_ndim = 4


class ReLU(Module):
    def forward(self, x):
        return relu(x)


class Flatten(Module):
    """(N, ...) -> (N, everything else)."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)
