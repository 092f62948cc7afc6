"""The one gradient path, for every order: `grad(outputs, inputs, ...)`.

Reverse mode in three steps:
1. Order the Functions between `outputs` and `inputs` topologically (iteratively:
   a 3,000-layer chain must not hit Python's recursion limit).
2. Mark which Function inputs lie on a path to a requested input; nothing else
   gets a gradient (data, or parameters nobody asked about).
3. Walk the order backwards. Each Function turns the cotangent of its output into
   cotangents of its inputs (its `vjp`); cotangents that reach the same tensor by
   several paths (fan-out: skip connections) are summed. The sum goes into one of the
   two arrays in place when only the table holds that one (a rule has just made it, or
   the table made it by an earlier sum): the same additions, one array fewer each time.
   An array anyone else can see (an incoming cotangent a rule passes on, a view, a
   seed, anything recorded or carrying a tangent) is never written.

With `create_graph=True` the rules run while the graph is recorded, so the
returned gradients are Tensors with creators that `grad` can walk again. With
`create_graph=False` nothing is recorded, but tensors carrying tangents still push
them through the rules: that is forward-over-reverse (see hessian_vector.py).

`Tensor.backward` is bound here, on top of the core (core.py never imports this module).
"""
from .core import Tensor, grad_mode
from .ops import sum_to


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

    table = _Cotangents(in_place=not create_graph)
    for t, g in zip(outputs, grad_outputs):
        table.add(_key(t), g)
    with grad_mode(create_graph):
        for fn in reversed(order):
            flags = needs[fn]
            gy = table.take(fn, keep=fn in wanted)
            if gy is None or not any(flags):
                continue
            fn.needs_input_grad = flags
            grads = tuple(fn.vjp(gy))
            for x, gx, need in zip(fn.inputs, grads, flags):
                if need and gx is not None:
                    if gx.shape != x.shape:      # undo broadcasting, the one place it happens
                        gx = sum_to(gx, x.shape)
                    table.add(_key(x), gx, made=_made_by_rule(gx, gy, fn, grads))
        results = [table.get(_key(t)) for t in inputs]
    results = [g if g is not None else Tensor(t.xp.zeros(t.shape, t.dtype)) for t, g in zip(inputs, results)]
    return results[0] if single else results


class _Cotangents:
    """key -> the cotangent (a Tensor) summed so far; `sole` holds the keys whose array nobody but this table
    can see, so that a sum may go into it in place (never while recording a graph: create_graph)."""

    def __init__(self, in_place):
        self.table, self.sole, self.in_place = {}, set(), in_place

    def get(self, key):
        return self.table.get(key)

    def take(self, key, keep=False):
        """The cotangent of `key` (or None), handed to its rule, which may pass it on; `keep`: also left in the table
        (a wanted intermediate's gradient). No sum comes after: every consumer of key's tensor came before."""
        self.sole.discard(key)
        return self.table.get(key) if keep else self.table.pop(key, None)

    def add(self, key, g, made=False):
        """Sum g into key's cotangent; made: a rule has just made g (see _made_by_rule), so only we hold it."""
        previous = self.table.get(key)
        if previous is None:
            self.table[key] = g
            if made and self.in_place:
                self.sole.add(key)
            return
        if self.in_place and previous.tangent is None and g.tangent is None and previous.dtype == g.dtype:
            if key in self.sole or made:                  # into the array only we hold: the same numbers
                into = previous if key in self.sole else g
                g.xp.add(previous.data, g.data, out=into.data)
                self.table[key] = into
                self.sole.add(key)
                return
        self.table[key] = previous + g                    # a new array
        if self.in_place:
            self.sole.add(key)


def _made_by_rule(gx, gy, fn, grads):
    """True when `fn`'s rule has just made gx for one input, so that nobody but the table will hold it: a new
    Tensor (not the incoming cotangent gy, an input or the output) that owns its array (not a view of another:
    reshapes, transposes and broadcasts are views), shares it with none of the rule's other cotangents (given
    to one input only, nothing returned is a view of it) and carries no tangent. Rules never keep what they
    return."""
    if gx is gy or gx is fn.output or gx.tangent is not None or gx.data.base is not None:
        return False
    shares = gx.xp.may_share_memory
    if any(shares(t.data, gx.data) for t in (gy, fn.output, *fn.inputs) if t is not None):
        return False              # a new Tensor around an array someone holds (the cotangent passed on, say)
    return sum(g is not None and shares(g.data, gx.data) for g in grads) == 1


def backward(self, grad_output=None):
    """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires a gradient.

    A convenience over `grad`, which is the one gradient path; use that (with
    create_graph=True) for higher order, so no `.grad` ever holds a graph.
    """
    targets = leaves(self)
    for leaf, g in zip(targets, grad(self, targets, grad_output)):
        leaf.grad = g if leaf.grad is None else Tensor(leaf.grad.data + g.data)


Tensor.backward = backward


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
