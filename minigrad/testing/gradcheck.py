"""Checks of derivative rules against central finite differences, along random directions.

First order (`check_grad`): for y = f(x), a random cotangent ȳ and random
directions d, the number ⟨ȳ, J d⟩ is computed three ways and must agree:
    reverse:   Σ_i ⟨x̄_i, d_i⟩ with x̄ = grad(⟨ȳ, y⟩, x)
    forward:   ⟨ȳ, ẏ⟩ with tangents ẋ = d
    numerical: ⟨ȳ, f(x + εd) - f(x - εd)⟩ / 2ε
Second order (`check_second_order`): the same for the scalar
    h(x, ȳ) = Σ_i ⟨grad_i(⟨ȳ, f(x)⟩, x), u_i⟩
whose reverse derivative needs create_graph=True (reverse-over-reverse) and whose
forward derivative is the tangent of the gradient (forward-over-reverse); ȳ is
an input too, so the rules' dependence on the incoming cotangent is checked.
"""
import numpy

from ..autodiff import grad
from ..backend import device_of, to_device, to_float
from ..core import Tensor
from ..forward import tangents


def _dot(a, b):
    """⟨a, b⟩ as a Python float (an explicit copy to the host)."""
    return to_float((a * b).sum())


def _random_like(rng, t):
    return to_device(rng.standard_normal(t.shape).astype(t.dtype), device_of(t.data))


def numerical_directional(f, inputs, directions, eps):
    """(f(x + εd) - f(x - εd)) / 2ε as an array: the central difference along d."""
    plus = f(*[Tensor(x.data + eps * d, True) for x, d in zip(inputs, directions)]).data
    minus = f(*[Tensor(x.data - eps * d, True) for x, d in zip(inputs, directions)]).data
    return (plus - minus) / (2 * eps)


def _compare(name, reverse, forward, numerical, rtol, atol):
    scale = max(abs(numerical), abs(reverse), 1e-300)
    for label, value in (("reverse", reverse), ("forward", forward)):
        if abs(value - numerical) > atol + rtol * scale:
            raise AssertionError(f"{name}: {label} mode gives {value!r}, finite differences {numerical!r} "
                                 f"(difference {abs(value - numerical):.3g}, allowed {atol + rtol * scale:.3g})")
    return reverse, forward, numerical


def check_grad(f, inputs, eps=1e-6, rtol=1e-6, atol=1e-9, seed=0):
    """Assert that reverse and forward first derivatives of f match finite differences."""
    rng = numpy.random.default_rng(seed)
    inputs = [Tensor(x.data, requires_grad=True) for x in inputs]
    y = f(*inputs)
    ybar = _random_like(rng, y)
    directions = [_random_like(rng, x) for x in inputs]
    reverse = sum(_dot(g.data, d) for g, d in zip(grad(y, inputs, Tensor(ybar)), directions))
    with tangents(inputs, directions):
        forward = _dot(ybar, _tangent(f(*inputs)))
    numerical = _dot(ybar, numerical_directional(f, inputs, directions, eps))
    return _compare("first order", reverse, forward, numerical, rtol, atol)


def check_second_order(f, inputs, eps=1e-5, rtol=1e-5, atol=1e-8, seed=1):
    """Assert that derivatives of the gradient (rev-rev and fwd-rev) match finite differences."""
    rng = numpy.random.default_rng(seed)
    inputs = [Tensor(x.data, requires_grad=True) for x in inputs]
    ybar = Tensor(_random_like(rng, f(*inputs)), requires_grad=True)
    us = [_random_like(rng, x) for x in inputs]

    def h(*args):
        *xs, yb = args
        gs = grad((f(*xs) * yb).sum(), xs, create_graph=True)
        return sum(((g * u).sum() for g, u in zip(gs, us)), Tensor(xs[0].xp.zeros((), xs[0].dtype)))

    every = inputs + [ybar]
    directions = [_random_like(rng, x) for x in every]
    reverse = sum(_dot(g.data, d) for g, d in zip(grad(h(*every), every), directions))
    with tangents(every, directions):
        gs = grad((f(*inputs) * ybar).sum(), inputs)
        forward = sum(_dot(_tangent(g), u) for g, u in zip(gs, us))
    numerical = to_float(numerical_directional(h, every, directions, eps))
    return _compare("second order", reverse, forward, numerical, rtol, atol)


def _tangent(t):
    return t.tangent if t.tangent is not None else t.xp.zeros(t.shape, t.dtype)
