"""Forward mode, `jvp(f, inputs, tangents)`: against finite differences, against the vjp, and as a part of hvp."""
import numpy
import pytest

import minigrad as mg
from minigrad import functional as F


def two_layer(x, w, b):
    """A smooth function of three inputs that uses broadcasting, a product, a reduction and a softmax."""
    h = mg.tanh(mg.matmul(x, w) + b)
    return mg.softmax(h * h.exp(), axis=-1), (h ** 3).sum(axis=0)


def host(t):
    """A Tensor's or an array's values as a NumPy array."""
    return mg.to_host(t.data if isinstance(t, mg.Tensor) else t)


@pytest.fixture
def problem(rng, device):
    shapes = [(4, 3), (3, 5), (5,)]
    inputs = [mg.tensor(rng.standard_normal(s), device=device) for s in shapes]
    tangents = [mg.to_device(rng.standard_normal(s), device) for s in shapes]
    return inputs, tangents


def test_jvp_matches_central_finite_differences(problem):
    inputs, tangents = problem
    outputs, dots = mg.jvp(two_layer, inputs, tangents)
    h = 1e-6
    plus = two_layer(*[mg.Tensor(x.data + h * v) for x, v in zip(inputs, tangents)])
    minus = two_layer(*[mg.Tensor(x.data - h * v) for x, v in zip(inputs, tangents)])
    for y, dy, yp, ym in zip(outputs, dots, plus, minus):
        numeric = (host(yp) - host(ym)) / (2 * h)
        assert dy.shape == y.shape and dy.dtype == numpy.float64
        numpy.testing.assert_allclose(host(dy), numeric, rtol=1e-6, atol=1e-8)
    numpy.testing.assert_array_equal(host(outputs[0]), host(two_layer(*inputs)[0]))


def test_jvp_is_the_transpose_of_the_vjp(problem, rng, device):
    """⟨u, J v⟩ = ⟨Jᵀ u, v⟩ for random u and v, summed over both outputs: forward and reverse rules agree."""
    inputs, tangents = problem
    (y1, y2), (d1, d2) = mg.jvp(two_layer, inputs, tangents)
    u = [mg.to_device(rng.standard_normal(y.shape), device) for y in (y1, y2)]
    xs = [mg.tensor(x.data, requires_grad=True) for x in inputs]
    pullbacks = mg.grad(list(two_layer(*xs)), xs, grad_outputs=[mg.Tensor(a) for a in u])
    forward = sum(float((host(a) * host(d)).sum()) for a, d in zip(u, (d1, d2)))
    reverse = sum(float((host(g) * host(v)).sum()) for g, v in zip(pullbacks, tangents))
    assert forward == pytest.approx(reverse, rel=1e-12, abs=1e-12)


def test_jvp_leaves_the_inputs_without_tangents_and_gives_zero_to_constants(problem):
    inputs, tangents = problem
    constant = mg.tensor(numpy.ones(2))
    (y, c), (dy, dc) = mg.jvp(lambda x, w, b: (x.sum(), constant * 2), inputs, tangents)
    assert all(t.tangent is None for t in (*inputs, y, c))
    assert host(dc).tolist() == [0.0, 0.0]
    assert host(dy) == pytest.approx(float(host(tangents[0]).sum()))
    same, dx = mg.jvp(lambda x: x, [inputs[0]], [tangents[0]])      # the identity: J = I
    numpy.testing.assert_array_equal(host(dx), host(tangents[0]))


def test_jvp_of_the_gradient_is_the_hessian_vector_product(rng):
    """Forward over reverse written with jvp: d/dε ∇L(θ + εv) is mg.hvp's default method, bit for bit."""
    x, y = mg.tensor(rng.standard_normal((8, 4))), rng.integers(0, 3, 8)
    w = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    v = rng.standard_normal((3, 4))
    _, hv = mg.jvp(lambda w: mg.grad(F.cross_entropy(mg.linear(mg.tanh(x), w), y), w), [w], [v])
    (expected,) = mg.hvp(lambda: F.cross_entropy(mg.linear(mg.tanh(x), w), y), [w], [v])
    numpy.testing.assert_array_equal(hv.numpy(), expected.numpy())


def test_jvp_rejects_tangents_that_do_not_match(problem):
    inputs, tangents = problem
    with pytest.raises(ValueError, match="one tangent per input"):
        mg.jvp(two_layer, inputs, tangents[:-1])
    with pytest.raises(ValueError, match="one tangent per input"):
        mg.jvp(two_layer, inputs, [tangents[1], tangents[0], tangents[2]])
