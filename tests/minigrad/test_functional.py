"""The layer functions of minigrad/functional: conv2d, pooling, batch norm and the losses.

Forward values are compared with direct nested-loop NumPy references written from
the definitions (not from im2col), on several strides, paddings and non-square
shapes; derivatives with check_grad / check_second_order (reverse, forward and
finite differences agree), on every device.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.testing import check_grad, check_second_order


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d_ref(x, w, b, stride, padding):
    """out[n, o, p, q] = b[o] + Σ_{c,i,j} x_pad[n, c, p·sy + i, q·sx + j] · w[o, c, i, j], by loops."""
    (sy, sx), (py, px) = pair(stride), pair(padding)
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * py, wd + 2 * px))
    xp[:, :, py:py + h, px:px + wd] = x
    oh, ow = (h + 2 * py - kh) // sy + 1, (wd + 2 * px - kw) // sx + 1
    out = np.zeros((n, oc, oh, ow))
    for s in range(n):
        for o in range(oc):
            for p in range(oh):
                for q in range(ow):
                    total = 0.0 if b is None else b[o]
                    for ch in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                total += xp[s, ch, p * sy + i, q * sx + j] * w[o, ch, i, j]
                    out[s, o, p, q] = total
    return out


def pool_ref(x, kernel, stride, padding, kind):
    """Max (padding never wins) or mean (zero padding counts, as PyTorch's count_include_pad) per window."""
    (kh, kw), (py, px) = pair(kernel), pair(padding)
    sy, sx = pair(stride if stride is not None else kernel)
    n, c, h, w = x.shape
    oh, ow = (h + 2 * py - kh) // sy + 1, (w + 2 * px - kw) // sx + 1
    out = np.zeros((n, c, oh, ow))
    for s in range(n):
        for ch in range(c):
            for p in range(oh):
                for q in range(ow):
                    window = []
                    for i in range(kh):
                        for j in range(kw):
                            r, t = p * sy + i - py, q * sx + j - px
                            inside = 0 <= r < h and 0 <= t < w
                            window.append(x[s, ch, r, t] if inside else (-np.inf if kind == "max" else 0.0))
                    out[s, ch, p, q] = max(window) if kind == "max" else sum(window) / len(window)
    return out


def distinct(rng, shape):
    """Values all distinct and 0.1 apart (no ties for max pooling), in random order."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - n * 0.05).reshape(shape)


# --- conv2d -------------------------------------------------------------------------------------
CONV_CASES = [
    # x shape,      w shape,      stride,  padding, bias
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0, True),
    ((1, 2, 6, 7), (3, 2, 3, 2), 2, 1, False),
    ((2, 1, 7, 5), (2, 1, 2, 3), (2, 1), (0, 1), True),
    ((1, 3, 4, 6), (2, 3, 1, 1), 1, 0, True),
    ((2, 2, 5, 4), (3, 2, 5, 4), 1, 0, False),          # kernel covers the whole input: 1x1 output
    ((1, 2, 8, 5), (2, 2, 3, 3), 3, 2, True),
    ((1, 1, 4, 4), (1, 1, 2, 2), (1, 3), (2, 0), False),
]


@pytest.mark.parametrize("xs, ws, stride, padding, bias", CONV_CASES)
def test_conv2d_matches_nested_loops(device, xs, ws, stride, padding, bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    out = F.conv2d(mg.tensor(x, device=device), mg.tensor(w, device=device),
                   None if b is None else mg.tensor(b, device=device), stride, padding)
    expected = conv2d_ref(x, w, b, stride, padding)
    assert out.shape == expected.shape and out.device.name == device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_derivatives_stride2_padding1(device, randn, bias):
    args = [randn(2, 2, 5, 4), randn(3, 2, 3, 2)] + ([randn(3)] if bias else [])
    f = lambda x, w, *b: F.conv2d(x, w, b[0] if b else None, stride=2, padding=1)  # noqa: E731
    check_grad(f, args)
    check_second_order(f, args)


def test_conv2d_rejects_bad_shapes():
    x = mg.tensor(np.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="matching C"):
        F.conv2d(x, mg.tensor(np.ones((2, 2, 3, 3))))
    with pytest.raises(ValueError, match="matching C"):
        F.conv2d(mg.tensor(np.ones((3, 4, 4))), mg.tensor(np.ones((2, 3, 3, 3))))
    with pytest.raises(ValueError, match="does not fit"):
        F.conv2d(x, mg.tensor(np.ones((2, 3, 5, 5))))


# --- pooling --------------------------------------------------------------------------------------
POOL_CASES = [
    # x shape,      kernel, stride, padding
    ((2, 2, 4, 6), 2, None, 0),
    ((1, 3, 7, 5), 3, 2, 1),           # stride != kernel, with padding
    ((2, 1, 5, 6), (2, 3), (1, 2), (1, 0)),
    ((1, 2, 6, 6), 3, 1, 0),           # overlapping windows
    ((1, 1, 5, 7), (3, 2), None, (1, 1)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("xs, kernel, stride, padding", POOL_CASES)
def test_pooling_matches_nested_loops(device, xs, kernel, stride, padding, kind):
    x = distinct(np.random.default_rng(0), xs)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = pool(mg.tensor(x, device=device), kernel, stride, padding)
    expected = pool_ref(x, kernel, stride, padding, kind)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("xs, kernel, stride, padding", POOL_CASES[:3])
def test_pooling_derivatives(device, xs, kernel, stride, padding, kind):
    """Inputs without ties (values 0.1 apart), so max pooling is differentiable at them."""
    x = mg.tensor(distinct(np.random.default_rng(1), xs), device=device)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    f = lambda t: pool(t, kernel, stride, padding)  # noqa: E731
    check_grad(f, [x])
    check_second_order(f, [x])


def test_max_pool_gradient_goes_to_the_window_maximum(device):
    x = mg.tensor(np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 9.0, 8.0]]]]), device=device, requires_grad=True)
    g = mg.grad(F.max_pool2d(x, 2).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]]])


# --- batch norm ---------------------------------------------------------------------------------------

def bn_train_ref(x, gamma, beta, eps):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes)
    var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)            # biased: used to normalize
    count = x.size // x.shape[1]
    y = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mu, var * count / (count - 1)                         # unbiased: used for the running estimate


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 5)])
def test_batch_norm_train_mode_matches_formula_and_updates_running_stats(device, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 2.0 + 1.5
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm0, rv0 = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])
    rm, rv = mg.to_device(rm0.copy(), device), mg.to_device(rv0.copy(), device)
    momentum, eps = 0.3, 1e-3
    y = F.batch_norm(mg.tensor(x, device=device), mg.tensor(gamma, device=device), mg.tensor(beta, device=device),
                     rm, rv, training=True, momentum=momentum, eps=eps)
    y_ref, mu, var_unbiased = bn_train_ref(x, gamma, beta, eps)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-12, atol=1e-12)
    # the running buffers are updated in place, on their device
    np.testing.assert_allclose(mg.to_host(rm), (1 - momentum) * rm0 + momentum * mu, rtol=1e-12)
    np.testing.assert_allclose(mg.to_host(rv), (1 - momentum) * rv0 + momentum * var_unbiased, rtol=1e-12)
    assert mg.get_array_module(rm) is mg.get_device(device).xp


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 3, 2)])
def test_batch_norm_eval_mode_uses_running_stats_and_leaves_them(device, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    rm0, rv0 = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])
    rm, rv = mg.to_device(rm0.copy(), device), mg.to_device(rv0.copy(), device)
    y = F.batch_norm(mg.tensor(x, device=device), mg.tensor(gamma, device=device), mg.tensor(beta, device=device),
                     rm, rv, training=False, eps=1e-5)
    b = (1, -1) + (1,) * (len(shape) - 2)
    expected = (x - rm0.reshape(b)) / np.sqrt(rv0.reshape(b) + 1e-5) * gamma.reshape(b) + beta.reshape(b)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(mg.to_host(rm), rm0)
    np.testing.assert_array_equal(mg.to_host(rv), rv0)


def test_batch_norm_train_mode_needs_two_values_per_channel():
    with pytest.raises(ValueError, match="more than one value"):
        F.batch_norm(mg.tensor(np.ones((1, 3))), mg.tensor(np.ones(3)), mg.tensor(np.zeros(3)),
                     np.zeros(3), np.ones(3), training=True)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 2)])
def test_batch_norm_derivatives(device, randn, shape, training):
    """In train mode the batch statistics are part of the graph; in eval mode the layer is affine in x."""
    c = shape[1]
    rm = mg.to_device(np.linspace(-0.5, 0.5, c), device)
    rv = mg.to_device(np.linspace(0.5, 1.5, c), device)
    args = [randn(*shape), randn(c), randn(c)]
    f = lambda x, g, b: F.batch_norm(x, g, b, rm, rv, training=training)  # noqa: E731
    check_grad(f, args)
    check_second_order(f, args)


# --- losses -----------------------------------------------------------------------------------------

def test_cross_entropy_matches_formula(device):
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((7, 5)) * 3, rng.integers(0, 5, 7)
    loss = F.cross_entropy(mg.tensor(z, device=device), mg.to_device(labels, device))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(7), labels])), rtol=1e-12)


def test_mse_loss_matches_formula(device):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = F.mse_loss(mg.tensor(p, device=device), mg.tensor(t, device=device))
    np.testing.assert_allclose(loss.item(), np.mean((p - t) ** 2), rtol=1e-12)
    # a broadcast target (one value per column) is allowed and means the same as the tiled target
    loss = F.mse_loss(mg.tensor(p, device=device), mg.tensor(t[0], device=device))
    np.testing.assert_allclose(loss.item(), np.mean((p - t[0]) ** 2), rtol=1e-12)


def test_loss_derivatives(device, randn):
    labels = mg.to_device(np.array([0, 2, 1, 2, 3]), device)
    logits = randn(5, 4)
    check_grad(lambda z: F.cross_entropy(z, labels), [logits])
    check_second_order(lambda z: F.cross_entropy(z, labels), [logits])
    p, t = randn(4, 3), randn(4, 3)
    check_grad(F.mse_loss, [p, t])
    check_second_order(F.mse_loss, [p, t])
