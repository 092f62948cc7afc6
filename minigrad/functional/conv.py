"""Convolution and pooling, composed from im2col and products.

Nothing here has a derivative rule of its own: conv2d is im2col → one dense
product → reshape, pooling is im2col → max or mean, so first and second
derivatives follow from the primitives (and im2col's adjoint col2im).
"""
from ..ops import im2col, linear, max, mean
from ..ops.conv import out_size, pair


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation: x (N, C, H, W), weight (OC, C, kh, kw), bias (OC,) -> (N, OC, OH, OW)."""
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d expects x (N, C, H, W) and weight (OC, C, kh, kw) with matching C; "
                         f"got {x.shape} and {weight.shape}")
    n, c, h, w = x.shape
    oc, _, kh, kw = weight.shape
    (sy, sx), (py, px) = pair(stride), pair(padding)
    oh, ow = out_size(h, kh, sy, py), out_size(w, kw, sx, px)
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input with padding {padding}")
    cols = im2col(x, (kh, kw), (sy, sx), (py, px))                          # (N, C, kh, kw, OH, OW)
    rows = cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)  # one row per output pixel
    y = linear(rows, weight.reshape(oc, c * kh * kw), bias)                # (N·OH·OW, OC)
    return y.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2)


def _windows(x, kernel, stride, padding, pad_value):
    kh, kw = pair(kernel)
    cols = im2col(x, (kh, kw), pair(stride if stride is not None else kernel), pair(padding), pad_value)
    n, c, _, _, oh, ow = cols.shape
    return cols.reshape(n, c, kh * kw, oh, ow)


def max_pool2d(x, kernel, stride=None, padding=0):
    """Max over each window (padding counts as -inf, so it never wins). Stride defaults to the kernel."""
    return max(_windows(x, kernel, stride, padding, float("-inf")), axis=2)


def avg_pool2d(x, kernel, stride=None, padding=0):
    """Mean over each window (zero padding counts towards the mean). Stride defaults to the kernel."""
    return mean(_windows(x, kernel, stride, padding, 0.0), axis=2)
