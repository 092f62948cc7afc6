"""Exact Hessian-vector products, two ways.

For a scalar loss L(θ) and a direction v, Hv = ∂/∂ε ∇L(θ + εv) at ε = 0.

reverse-over-reverse ("rev-rev", the baseline): take g = ∇L with the graph
    recorded (create_graph=True), then Hv = ∇_θ ⟨g, v⟩: one more reverse pass,
    this time through the backward graph as well as the forward graph.

forward-over-reverse ("fwd-rev", the default): give every parameter the tangent
    v (forward.tangents), so each op also pushes forward its derivative; the forward pass
    yields L̇ and every activation's tangent, and the ordinary reverse pass, run on
    tensors that carry tangents, yields ∇L together with its tangent, which is Hv.
    This is Pearlmutter's R-operator, done by the engine. No graph of the backward
    pass is ever built.

Both are exact up to rounding; tests check they agree to 1e-10 in float64.
"""
from .autodiff import grad
from .core import Tensor, unwrap
from .forward import tangents

METHODS = ("fwd-rev", "rev-rev")


def hvp(loss_fn, params, vectors, method="fwd-rev"):
    """Hessian of `loss_fn()` with respect to `params`, times `vectors`.

    loss_fn   a function of no arguments that computes the scalar loss from `params`
    params    the Tensors to differentiate with respect to
    vectors   one array (or Tensor) per parameter, same shapes: the direction v
    returns   one Tensor per parameter: the blocks of Hv
    """
    params = list(params)
    vectors = [unwrap(v) for v in vectors]
    if len(vectors) != len(params) or any(v.shape != p.shape for v, p in zip(vectors, params)):
        raise ValueError("hvp needs one vector per parameter, each of the parameter's shape")
    if method == "fwd-rev":
        with tangents(params, vectors):
            grads = grad(loss_fn(), params)
        return [Tensor(g.tangent if g.tangent is not None else p.xp.zeros(p.shape, p.dtype))
                for g, p in zip(grads, params)]
    if method == "rev-rev":
        grads = grad(loss_fn(), params, create_graph=True)
        return [g.detach() for g in grad(grads, params, grad_outputs=[Tensor(v) for v in vectors])]
    raise ValueError(f"unknown hvp method {method!r}; choose one of {', '.join(METHODS)}")

