"""Exact Hessian-vector products: against finite differences, dense symmetry, closed forms, and each other."""
import numpy
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn

from .nets import ResidualMLP


def flat(tensors):
    return numpy.concatenate([t.numpy().ravel() for t in tensors])


def unflat(vector, params, device):
    out, start = [], 0
    for p in params:
        out.append(mg.to_device(vector[start:start + p.size].reshape(p.shape), device))
        start += p.size
    return out


def dense_hessian(loss_fn, params, device, method):
    """Assemble H column by column from HVPs with basis vectors."""
    n = sum(p.size for p in params)
    columns = []
    for i in range(n):
        e = numpy.zeros(n)
        e[i] = 1.0
        columns.append(flat(mg.hvp(loss_fn, params, unflat(e, params, device), method)))
    return numpy.stack(columns, axis=1)


class TanhNet(nn.Module):
    """A smooth residual net (tanh), so finite differences of gradients are valid everywhere."""

    def __init__(self, sizes, rng):
        self.layers = [nn.Linear(a, b, rng=rng, dtype=numpy.float64) for a, b in zip(sizes, sizes[1:])]
        for layer in self.layers:
            layer.bias.data = rng.standard_normal(layer.bias.shape) * 0.1

    def forward(self, x):
        for i, layer in enumerate(self.layers[:-1]):
            h = mg.tanh(layer(x))
            x = h + x if h.shape == x.shape and i > 0 else h
        return self.layers[-1](x)


@pytest.fixture
def tanh_problem(rng, device):
    model = TanhNet([5, 6, 6, 6, 3], rng).to(device)
    x = mg.tensor(rng.standard_normal((16, 5)), device=device)
    y = mg.to_device(rng.integers(0, 3, 16), device)
    return model, (lambda: F.cross_entropy(model(x), y))


@pytest.mark.parametrize("method", mg.hvp_methods)
def test_hvp_matches_finite_differences_of_gradients(tanh_problem, rng, device, method):
    model, loss_fn = tanh_problem
    params = model.parameters()
    v = [mg.to_device(rng.standard_normal(p.shape), device) for p in params]
    hv = flat(mg.hvp(loss_fn, params, v, method))
    eps = 1e-5

    def gradient_at(sign):
        saved = [p.data for p in params]
        for p, d in zip(params, v):
            p.data = p.data + sign * eps * d
        g = flat(mg.grad(loss_fn(), params))
        for p, s in zip(params, saved):
            p.data = s
        return g
    fd = (gradient_at(+1) - gradient_at(-1)) / (2 * eps)
    assert numpy.linalg.norm(hv - fd) <= 1e-7 * numpy.linalg.norm(hv)


def test_dense_hessian_from_hvps_is_symmetric_and_methods_agree(tanh_problem, device):
    model, loss_fn = tanh_problem
    params = model.parameters()[:4]      # the first two layers: 5·6 + 6 + 6·6 + 6 = 78 coordinates
    h_fwd = dense_hessian(loss_fn, params, device, "fwd-rev")
    h_rev = dense_hessian(loss_fn, params, device, "rev-rev")
    scale = numpy.abs(h_fwd).max()
    assert numpy.abs(h_fwd - h_fwd.T).max() <= 1e-12 * scale
    assert numpy.abs(h_fwd - h_rev).max() <= 1e-12 * scale
    assert numpy.linalg.eigvalsh(h_fwd).min() < 0 < numpy.linalg.eigvalsh(h_fwd).max()   # a real saddle-ish Hessian


@pytest.mark.parametrize("method", mg.hvp_methods)
def test_least_squares_hessian_is_two_over_n_xtx(rng, device, method):
    """L(w) = mean((Xw - y)²) has H = (2/N) XᵀX, whatever w is."""
    n, d = 40, 7
    x_host = rng.standard_normal((n, d))
    x = mg.tensor(x_host, device=device)
    y = mg.tensor(rng.standard_normal((n, 1)), device=device)
    w = mg.tensor(rng.standard_normal((d, 1)), device=device, requires_grad=True)
    h = dense_hessian(lambda: F.mse_loss(x @ w, y), [w], device, method)
    numpy.testing.assert_allclose(h, 2 / n * x_host.T @ x_host, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", mg.hvp_methods)
def test_softmax_cross_entropy_hessian_is_kronecker_form(rng, device, method):
    """For logits z = W x (no bias), H = (1/N) Σ_n (diag(p_n) - p_n p_nᵀ) ⊗ x_n x_nᵀ, with W flattened row-major."""
    n, d, c = 12, 4, 3
    x_host = rng.standard_normal((n, d))
    labels = rng.integers(0, c, n)
    x = mg.tensor(x_host, device=device)
    w = mg.tensor(rng.standard_normal((c, d)), device=device, requires_grad=True)
    h = dense_hessian(lambda: F.cross_entropy(mg.linear(x, w), mg.to_device(labels, device)), [w], device, method)
    z = x_host @ w.numpy().T
    p = numpy.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = sum(numpy.kron(numpy.diag(pn) - numpy.outer(pn, pn), numpy.outer(xn, xn)) for pn, xn in zip(p, x_host)) / n
    numpy.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-14)


def _relu_conv_problem(rng, device, training=False):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=rng, dtype=numpy.float64),
                          nn.BatchNorm2d(3, dtype=numpy.float64), nn.ReLU(),
                          nn.Conv2d(3, 4, 3, padding=1, rng=rng, dtype=numpy.float64), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 9, 5, rng=rng, dtype=numpy.float64)).to(device)
    model.train(training)
    x = mg.tensor(rng.standard_normal((6, 2, 6, 6)), device=device)
    y = mg.to_device(rng.integers(0, 5, 6), device)
    return model, lambda: F.cross_entropy(model(x), y)


def _relu_mlp_problem(rng, device):
    model = ResidualMLP(inputs=12, width=8, depth=6, classes=4, rng=rng, dtype=numpy.float64).to(device)
    x = mg.tensor(rng.standard_normal((20, 12)), device=device)
    y = mg.to_device(rng.integers(0, 4, 20), device)
    return model, lambda: F.cross_entropy(model(x), y)


def _pooling_problem(rng, device):
    w = nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=numpy.float64).to(device)
    x = mg.tensor(rng.standard_normal((3, 1, 8, 8)), device=device)

    def loss():
        h = mg.tanh(w(x))
        return (F.max_pool2d(h, 2) ** 2).sum() + (F.avg_pool2d(h, 3, stride=2, padding=1) ** 3).mean()
    return w, loss


@pytest.mark.parametrize("make", [_relu_conv_problem, _relu_mlp_problem, _pooling_problem])
def test_forward_over_reverse_equals_reverse_over_reverse(make, rng, device):
    """The two exact methods agree to 1e-10 relative in float64, on ReLU, conv, batch-norm and pooling graphs."""
    model, loss_fn = make(rng, device)
    params = model.parameters()
    v = [mg.to_device(rng.standard_normal(p.shape), device) for p in params]
    a = flat(mg.hvp(loss_fn, params, v, "fwd-rev"))
    b = flat(mg.hvp(loss_fn, params, v, "rev-rev"))
    assert numpy.linalg.norm(a - b) <= 1e-10 * numpy.linalg.norm(b)
    assert numpy.linalg.norm(b) > 0


def test_batch_norm_train_mode_hvp_methods_agree(rng, device):
    """Train-mode batch norm couples the examples; both methods must still agree."""
    model, loss_fn = _relu_conv_problem(rng, device, training=True)
    params = model.parameters()
    v = [mg.to_device(rng.standard_normal(p.shape), device) for p in params]
    a = flat(mg.hvp(loss_fn, params, v, "fwd-rev"))
    b = flat(mg.hvp(loss_fn, params, v, "rev-rev"))
    assert numpy.linalg.norm(a - b) <= 1e-10 * numpy.linalg.norm(b)


def test_float32_hvp_is_close_to_float64(rng):
    hv = {}
    for dtype in (numpy.float64, numpy.float32):
        model = ResidualMLP(inputs=12, width=8, depth=4, classes=3, rng=0, dtype=dtype)
        r = numpy.random.default_rng(5)
        x = mg.tensor(r.standard_normal((10, 12)).astype(dtype))
        y = r.integers(0, 3, 10)
        v = [r.standard_normal(p.shape).astype(dtype) for p in model.parameters()]
        out = mg.hvp(lambda: F.cross_entropy(model(x), y), model.parameters(), v)
        assert all(h.dtype == dtype for h in out)
        hv[dtype] = flat(out)
    assert numpy.linalg.norm(hv[numpy.float32] - hv[numpy.float64]) <= 1e-4 * numpy.linalg.norm(hv[numpy.float64])


def test_hvp_leaves_no_tangents_behind(tanh_problem, device):
    model, loss_fn = tanh_problem
    params = model.parameters()
    mg.hvp(loss_fn, params, [p.data * 0 + 1 for p in params])
    assert all(p.tangent is None for p in params)
    assert loss_fn().tangent is None


def test_hvp_rejects_bad_vectors_and_methods(tanh_problem):
    model, loss_fn = tanh_problem
    params = model.parameters()
    with pytest.raises(ValueError, match="one vector per parameter"):
        mg.hvp(loss_fn, params, [p.data for p in params[:-1]])
    with pytest.raises(ValueError, match="unknown hvp method"):
        mg.hvp(loss_fn, params, [p.data for p in params], method="fd")
