"""The one gradient path, for every order: `grad(outputs, inputs, ...)`.

Reverse mode in three steps:
1. Order the Functions between `outputs` and `inputs` topologically (iteratively:
   a 3,000-layer chain must not hit Python's recursion limit).
2. Mark which Function inputs lie on a path to a requested input; nothing else
   gets a gradient (data, or parameters nobody asked about).
3. Walk the order backwards. Each Function turns the cotangent of its output into
   cotangents of its inputs (its `vjp`); cotangents that reach the same tensor by
   several paths (fan-out: skip connections) are summed.

With `create_graph=True` the rules run while the graph is recorded, so the
returned gradients are Tensors with creators that `grad` can walk again. With
`create_graph=False` nothing is recorded, but tensors carrying tangents still push
them through the rules: that is forward-over-reverse (see hvp.py).
"""
from .ops import sum_to
from .tensor import Tensor, grad_mode


def toposort(outputs):
    """Functions reachable from `outputs`, each after every Function that feeds it."""
    order, seen = [], set()
    stack = [(t.creator, False) for t in outputs if t.creator is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in seen:
            continue
        seen.add(fn)
        stack.append((fn, True))
        stack.extend((x.creator, False) for x in fn.inputs if x.creator is not None and x.creator not in seen)
    return order


def leaves(output):
    """The tensors that require a gradient but were not computed by a Function, in graph order."""
    found, seen = [], set()
    for fn in toposort([output]):
        for x in fn.inputs:
            if x.requires_grad and x.creator is None and id(x) not in seen:
                seen.add(id(x))
                found.append(x)
    return found


def _key(t):
    # A computed tensor is identified by its creator, a leaf by itself: both hash by identity.
    return t.creator if t.creator is not None else t


def grad(outputs, inputs, grad_outputs=None, create_graph=False):
    """Gradients of `outputs` with respect to `inputs`, returned (never stored in `.grad`).

    outputs       a Tensor or a sequence of Tensors
    inputs        a Tensor (returns one gradient) or a sequence (returns a list);
                  leaves or intermediate tensors alike
    grad_outputs  the cotangents ȳ that weight each output (default 1 for scalar outputs):
                  the result is Σ_k ȳ_kᵀ ∂y_k/∂x, a vector-Jacobian product
    create_graph  record the backward computation so the gradients can be differentiated again

    An input that no output depends on gets a zero gradient.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    grad_outputs = _seed(outputs, grad_outputs)

    order = toposort(outputs)
    wanted = {_key(t) for t in inputs}
    needs, leads = {}, set()         # which inputs of each Function lie on a path to a wanted tensor
    for fn in order:
        needs[fn] = flags = tuple(_key(x) in wanted or x.creator in leads for x in fn.inputs)
        if any(flags):
            leads.add(fn)

    table = {}                       # key -> accumulated cotangent (a Tensor)
    for t, g in zip(outputs, grad_outputs):
        _accumulate(table, _key(t), g)
    with grad_mode(create_graph):
        for fn in reversed(order):
            flags = needs[fn]
            gy = table.get(fn) if fn in wanted else table.pop(fn, None)
            if gy is None or not any(flags):
                continue
            fn.needs_input_grad = flags
            for x, gx, need in zip(fn.inputs, fn.vjp(gy), flags):
                if need and gx is not None:
                    if gx.shape != x.shape:      # undo broadcasting, the one place it happens
                        gx = sum_to(gx, x.shape)
                    _accumulate(table, _key(x), gx)
        results = [table.get(_key(t)) for t in inputs]
    results = [g if g is not None else Tensor(t.xp.zeros(t.shape, t.dtype)) for t, g in zip(inputs, results)]
    return results[0] if single else results


def _accumulate(table, key, g):
    previous = table.get(key)
    table[key] = g if previous is None else previous + g


def _seed(outputs, grad_outputs):
    if grad_outputs is None:
        for y in outputs:
            if y.size != 1:
                raise ValueError(f"grad of a non-scalar output (shape {y.shape}) needs grad_outputs")
        return [Tensor(y.xp.ones(y.shape, y.dtype)) for y in outputs]
    if isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    seeds = [g if isinstance(g, Tensor) else Tensor(g) for g in grad_outputs]
    for y, g in zip(outputs, seeds):
        if g.shape != y.shape:
            raise ValueError(f"grad_outputs shape {g.shape} does not match output shape {y.shape}")
    return seeds
