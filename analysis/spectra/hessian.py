"""The Hessian of the training objective as a linear operator, fixed once it is built.

Spectral methods multiply by H tens or hundreds of times and assume it is one
symmetric matrix. Every tool that lets H drift between products (a new minibatch
per product, dropout, batch norm in train mode) breaks that assumption silently.
So everything H depends on is fixed at construction:

* the parameters (the model's, at their current values: do not train in between);
* the data: one subset, split into minibatches in a fixed order; the objective is a
  mean over examples, so H = Σ_b (n_b / N) H_b, weighted by batch size (an
  unweighted mean of batch Hessians would be wrong for a short last batch);
* batch norm in eval mode (running statistics as constants), for every product;
* with or without the regularizer's curvature (`penalty`): BiasReg adds 2λ on
  the bias coordinates.

Vectors are flat float64 arrays on the model's device (`device`, the model's Device, read once at
construction); each product casts them to
the model's dtype, so a float32 model is multiplied in float32 while the spectral
algorithm around it keeps its recurrences in float64.

An ensemble of stacked members (models/ensemble.py) is one operator for all its
members: vectors are then (S, dim), row s for member s, and one product of the
summed loss multiplies each row by its own member's Hessian (the ensemble's Hessian
is block diagonal, and every member sees the same examples). `dim` is a member's.
"""
import numpy

import minigrad as mg
from models import objective

from .exact import LIMIT


class HessianOperator:
    def __init__(self, model, x, labels, batch_size=1024, penalty=True, method="fwd-rev"):
        if method not in mg.hvp_methods:
            raise ValueError(f"unknown hvp method {method!r}; choose one of {', '.join(mg.hvp_methods)}")
        if len(x) != len(labels) or len(labels) == 0:
            raise ValueError(f"the Hessian needs as many labels as examples, and some: got {len(x)} and {len(labels)}")
        self.model, self.penalty, self.method = model, penalty, method
        self.params = model.parameters()
        self.rows = (model.size,) if getattr(model, "stacked", False) else ()   # an ensemble: one row per member
        if not self.rows and getattr(model, "size", 1) > 1:
            raise ValueError("a Hessian operator needs a single net or an ensemble of stacked members; "
                             "measure the members of this ensemble one by one (model.member(s))")
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.size // (self.rows[0] if self.rows else 1) for p in self.params]
        self.dim = int(sum(self.sizes))
        self.dtype = self.params[0].dtype
        self.device = device = model.device       # the model's Device: what the spectral methods put vectors on
        batch_size = len(labels) if batch_size is None else int(batch_size)
        self.batches = [(mg.Tensor(mg.to_device(x[i:i + batch_size], device)),
                         self._labels(mg.to_device(labels[i:i + batch_size], device)))
                        for i in range(0, len(labels), batch_size)]
        self.n_samples = len(labels)
        self.batch_size = batch_size
        self.xp = device.xp
        self.products = 0

    def _labels(self, y):
        """Labels for every member: the same examples, broadcast to (S, n) for an ensemble."""
        return mg.get_array_module(y).broadcast_to(y, self.rows + y.shape) if self.rows else y

    def info(self):
        """What a result needs to record about the operator it came from."""
        return {"dim": self.dim, "n_samples": self.n_samples, "batch_size": self.batch_size,
                "penalty": bool(self.penalty), "dtype": str(self.dtype), "hvp": self.method}

    def split(self, flat):
        """A flat vector (one row per member for an ensemble) as one array per parameter, in the model's dtype."""
        out, start = [], 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(flat[..., start:start + size].reshape(shape).astype(self.dtype))
            start += size
        return out

    def join(self, arrays):
        """One array per parameter as a flat float64 vector (one row per member for an ensemble)."""
        return self.xp.concatenate([a.reshape(self.rows + (-1,)).astype(numpy.float64) for a in arrays], axis=-1)

    def matvec(self, v):
        """H v for a flat vector v (float64), batch-size weighted over the fixed subset, in eval mode."""
        v = mg.to_device(v, self.device)
        if v.shape != self.rows + (self.dim,):
            raise ValueError(f"the Hessian acts on vectors of shape {self.rows + (self.dim,)}, not {v.shape}")
        vs = self.split(v)
        was_training = self.model.training
        self.model.eval()
        try:
            total = None
            for x, y in self.batches:
                hv = mg.hvp(lambda: objective(self.model, x, y, penalty=self.penalty).sum(), self.params, vs, self.method)
                part = self.join([h.data for h in hv]) * (y.shape[-1] / self.n_samples)
                total = part if total is None else total + part
        finally:
            self.model.train(was_training)
        self.products += 1
        return total

    __matmul__ = matvec

    def dense(self, limit=LIMIT, progress=None):
        """The whole matrix, column by column from products with basis vectors, symmetrized (small nets only).

        `progress`, if given, is called after each column (the CLI draws a bar with it).
        """
        return dense_matrix(self.matvec, self.dim, self.rows, self.xp, limit, "a dense Hessian", progress)


def dense_matrix(matvec, dim, rows, xp, limit, what, progress=None):
    """The matrix of the symmetric map `matvec` on `dim` coordinates (leading axes `rows`), column by column
    from products with basis vectors, symmetrized; `what` names it in the error past `limit` coordinates."""
    if dim > limit:
        raise ValueError(f"{what} of {dim} parameters is too large (limit {limit}); use the moment or Lanczos methods")
    columns = []
    basis = xp.zeros(tuple(rows) + (dim,), numpy.float64)
    for i in range(dim):
        basis[..., i] = 1.0
        columns.append(matvec(basis))
        basis[..., i] = 0.0
        if progress:
            progress()
    h = xp.stack(columns, axis=-1)
    return (h + xp.swapaxes(h, -1, -2)) / 2
