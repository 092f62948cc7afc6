"""Forward mode: Jacobian-vector products from the ops' `jvp` rules.

A Tensor may carry a `tangent`, an array of its shape: the directional derivative
of its value. `Function.apply` pushes tangents through every op as it computes
(core.py), so seeding the inputs with tangents and running a function yields
J v alongside its value in one pass. One direction per pass: a tangent is one
array, not a batch (docs/engine.md, step 5, says why).
"""
from contextlib import contextmanager

from .core import Tensor, unwrap


@contextmanager
def tangents(params, vectors):
    """Seed each parameter with a tangent for the duration of the block (forward mode)."""
    for p, v in zip(params, vectors):
        p.tangent = v
    try:
        yield
    finally:
        for p in params:
            p.tangent = None


_seeded = tangents   # jvp's own argument is named `tangents`, as in autodidax


def jvp(f, inputs, tangents):
    """The value of `f(*inputs)` and its derivative along `tangents`: (outputs, J·tangents).

    f         a function of Tensors that returns a Tensor or a tuple (or list) of Tensors
    inputs    Tensors or arrays; f sees fresh Tensors with the same data (and requires_grad),
              so the caller's tensors never carry a tangent
    tangents  one array (or Tensor) per input, of the input's shape: the direction v
    returns   (outputs, output tangents): two Tensors, or two tuples when f returns several;
              an output that does not depend on the inputs has a zero tangent
    """
    inputs, tangents = list(inputs), [unwrap(v) for v in tangents]
    xs = [Tensor(x.data, x.requires_grad) if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    if len(tangents) != len(xs) or any(v.shape != x.shape for v, x in zip(tangents, xs)):
        raise ValueError("jvp needs one tangent per input, each of the input's shape")
    with _seeded(xs, tangents):
        result = f(*xs)
        single = isinstance(result, Tensor)
        outputs = [result] if single else list(result)
        dots = [Tensor(y.tangent if y.tangent is not None else y.xp.zeros(y.shape, y.dtype)) for y in outputs]
    for y in outputs:
        y.tangent = None          # the outputs come back as plain values: nothing downstream carries a tangent
    return (outputs[0], dots[0]) if single else (tuple(outputs), tuple(dots))
