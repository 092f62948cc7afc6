"""The primitive ops, each with its derivative rules, and the Tensor methods bound to them.

elementwise  add sub mul div neg power exp log tanh sigmoid relu abs where maximum cast
reduce       sum sum_to broadcast_to max, and the composites mean and logsumexp
shape        reshape transpose swapaxes getitem concatenate, and the composite stack
linalg       matmul linear
conv         im2col (col2im is its adjoint)
logits       softmax softmax_cross_entropy
"""
from ..core import Tensor
from .conv import im2col
from .elementwise import abs, add, cast, div, exp, log, maximum, mul, neg, power, relu, sigmoid, sub, tanh, where
from .linalg import linear, matmul
from .logits import softmax, softmax_cross_entropy
from .reduce import broadcast_to, logsumexp, max, mean, sum, sum_to
from .shape import concatenate, getitem, reshape, stack, swapaxes, transpose

__all__ = ["abs", "add", "cast", "div", "exp", "log", "maximum", "mul", "neg", "power", "relu", "sigmoid", "sub",
           "tanh", "where", "broadcast_to", "logsumexp", "max", "mean", "sum", "sum_to", "concatenate", "getitem",
           "reshape", "stack", "swapaxes", "transpose", "linear", "matmul", "im2col", "softmax",
           "softmax_cross_entropy"]


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


# Operators and methods, as a table.
Tensor.__add__ = add
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = sub
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = mul
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__neg__ = neg
Tensor.__pow__ = power
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__getitem__ = getitem
Tensor.sum = sum
Tensor.mean = mean
Tensor.max = max
Tensor.reshape = lambda self, *shape: reshape(self, _shape_args(shape))
Tensor.transpose = lambda self, *axes: transpose(self, _shape_args(axes) or None)
Tensor.T = property(lambda self: transpose(self))
Tensor.exp = exp
Tensor.log = log
Tensor.tanh = tanh
Tensor.sigmoid = sigmoid
Tensor.relu = relu
Tensor.abs = abs
Tensor.astype = cast
