"""im2col and col2im: the adjoint pair that turns convolution and pooling into products.

im2col copies every kh×kw patch of a padded image into its own column, so a
convolution becomes one matrix product with the flattened kernels. It only moves
values, so it is linear; its transpose, col2im, adds every column back onto the
image positions it came from (overlapping patches add up) and drops the padding.
Each is therefore the other's vjp, and each is its own jvp.

Both loop over the kh·kw kernel offsets and copy strided slices, which NumPy and
CuPy do identically (no scatter-add, no device-specific kernel).
"""
from ..core import Function


def out_size(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def im2col_array(xp, x, kh, kw, stride, pad, pad_value=0.0):
    """(N, C, H, W) -> (N, C, kh, kw, OH, OW): column [.., i, j, p, q] is x_pad[.., p·s + i, q·s + j]."""
    (sy, sx), (py, px) = stride, pad
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sy, py), out_size(w, kw, sx, px)
    if py or px:
        x = xp.pad(x, ((0, 0), (0, 0), (py, py), (px, px)), mode="constant", constant_values=pad_value)
    col = xp.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            col[:, :, i, j] = x[:, :, i:i + sy * oh:sy, j:j + sx * ow:sx]
    return col


def col2im_array(xp, col, shape, stride, pad):
    """The transpose of im2col_array: add each column back where it came from, then crop the padding."""
    (sy, sx), (py, px) = stride, pad
    n, c, h, w = shape
    _, _, kh, kw, oh, ow = col.shape
    img = xp.zeros((n, c, h + 2 * py, w + 2 * px), col.dtype)
    for i in range(kh):
        for j in range(kw):
            img[:, :, i:i + sy * oh:sy, j:j + sx * ow:sx] += col[:, :, i, j]
    return img[:, :, py:py + h, px:px + w]


class Im2col(Function):
    """cols = im2col(x).   x̄ = col2im(c̄ols),  ċols = im2col(ẋ) (padding is constant: zero tangent)."""

    kh: int                 # kernel height
    kw: int                 # kernel width
    stride: tuple           # (sy, sx)
    pad: tuple              # (py, px)
    pad_value: float        # the value padding fills in (-inf for max pooling)

    def forward(self, x):
        return im2col_array(self.xp, x, self.kh, self.kw, self.stride, self.pad, self.pad_value)

    def vjp(self, gy):
        return (Col2im.apply(gy, shape=self.inputs[0].shape, stride=self.stride, pad=self.pad),)

    def jvp(self, tx):
        return im2col_array(self.xp, tx, self.kh, self.kw, self.stride, self.pad)


class Col2im(Function):
    """img = col2im(cols).   c̄ols = im2col(īmg),  ïmg = col2im(ċols)."""

    shape: tuple            # the image's shape (N, C, H, W)
    stride: tuple           # (sy, sx)
    pad: tuple              # (py, px)

    def forward(self, col):
        return col2im_array(self.xp, col, self.shape, self.stride, self.pad)

    def vjp(self, gy):
        _, _, kh, kw, _, _ = self.inputs[0].shape
        return (im2col(gy, (kh, kw), self.stride, self.pad),)

    def jvp(self, tcol):
        return col2im_array(self.xp, tcol, self.shape, self.stride, self.pad)


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def im2col(x, kernel, stride=1, pad=0, pad_value=0.0):
    kh, kw = pair(kernel)
    return Im2col.apply(x, kh=kh, kw=kw, stride=pair(stride), pad=pair(pad), pad_value=pad_value)
