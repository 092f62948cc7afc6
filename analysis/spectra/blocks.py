"""Per-layer Hessian spectra: the diagonal blocks of H as operators, and how block-diagonal H is.

The definitions are in docs/guide.md ("Per-layer spectra"); in short, for a block b of
parameters (a layer's weight and bias, or a named group) and P_b the projection that
keeps block b and zeros the rest:

* the block Hessian H_bb = P_b H P_b, taken on block b's own coordinates (a d_b x d_b
  matrix, d_b the block's size): `BlockOperator`. It has what the spectral methods ask
  of an operator (.dim, .matvec, .dense, .info, its device), so exact_spectrum,
  lanczos, slq_spectrum and the moments take it unchanged, and its spectrum is that of
  the diagonal block of the dense Hessian. Working on block coordinates, not on the
  full space, keeps the d - d_b zero eigenvalues of P_b H P_b out of the fractions.
* the leakage of block b: for probes v supported on b,
      leak_b = 1 - |P_b H v|² / |H v|² = |(I - P_b) H v|² / |H v|²,
  the fraction of |H v|² that leaves the block, averaged over probes. 0 means H is
  block-diagonal at b (H_cb = 0 for every other block c); it is computed as the ratio
  of the two parts, never as a difference, so a block-diagonal H gives 0 to the last bit.
  A probe with H v = 0 says nothing and is left out (counted in `zero_products`).

One product of a block costs one Hessian-vector product of the whole net: the
engine differentiates the whole loss. Several blocks' products are batched by
stacking (`BlockProducts`): K copies of the net become one ensemble of stacked
members (models/ensemble.py), row k carrying block k's vector, so one pass gives the K
products. Member k computes what the single net computes, so each row is its
one-block-at-a-time product bit for bit on NumPy (tests/analysis/test_blocks.py; on
CUDA a batched matrix product may pick other kernels than a single one). Only the
fully connected nets stack; any other operator (conv nets) multiplies one block after
another, which is the same arithmetic; an ensemble's operator is refused.

`per_layer_spectra` uses the batching where it has several products at once: the
leakage probes (probe p of every block in one pass), the dense blocks of `exact`
(column i of every block in one pass) and, for `slq`, the blocks' Lanczos runs side by
side (`slq_side_by_side`: one pass per step, each block's run its own SLQ to rounding).
The moments go block by block through `moment_spectrum`.
"""
import time
import warnings

import numpy

import minigrad as mg
from models.files import jsonable

from .exact import LIMIT, exact_spectrum
from .hessian import HessianOperator, dense_matrix
from .lanczos import LanczosBreakdown
from .moments import moment_spectrum
from .slq import DEFAULT_PROBES, DEFAULT_STEPS, operator_device, rademacher, slq_spectrum
from .window import WINDOW

METHODS = ("exact", "moments", "slq")
DEFAULT_STACK = 8       # blocks per stacked pass: K copies of the weights and K times the activations


class Block:
    """A named set of coordinates of the flat parameter vector (HessianOperator.split/join order)."""

    def __init__(self, name, index, params=()):
        self.name, self.params = str(name), tuple(params)
        self.index = numpy.asarray(index, dtype=numpy.int64).ravel()
        if self.index.size == 0:
            raise ValueError(f"block {self.name!r} holds no parameters")
        if numpy.unique(self.index).size != self.index.size or self.index.min() < 0:
            raise ValueError(f"block {self.name!r} lists a coordinate twice or a negative one")
        start = int(self.index[0])
        contiguous = numpy.array_equal(self.index, numpy.arange(start, start + self.index.size))
        self.slice = slice(start, start + self.index.size) if contiguous else None

    @property
    def dim(self):
        return int(self.index.size)

    def info(self):
        return {"block": self.name, "params": list(self.params), "dim": self.dim}

    def __repr__(self):
        return f"Block({self.name!r}, {self.dim} coordinates)"


def parameter_layout(model):
    """[(name, start, size)] of each parameter in the flat vector of a HessianOperator of `model`."""
    layout, start = [], 0
    for name, p in model.named_parameters():
        layout.append((name, start, int(p.size)))
        start += int(p.size)
    return layout


def _block_of(name, entries):
    index = numpy.concatenate([numpy.arange(start, start + size) for _, start, size in entries])
    return Block(name, index, [n for n, _, _ in entries])


def layer_blocks(model):
    """One block per layer: the parameters of one module (a linear layer's weight and bias, a conv, a batch norm,
    a SkipInit gain), named by the module's path ("hidden.0", "output"), in the order of the parameters."""
    groups = {}
    for entry in parameter_layout(model):
        module = entry[0].rpartition(".")[0] or entry[0]
        groups.setdefault(module, []).append(entry)
    return [_block_of(name, entries) for name, entries in groups.items()]


def named_blocks(model, groups):
    """Blocks from {name: [parameter names or module paths, ...]}: "hidden.0" takes hidden.0.weight and .bias.

    Groups must be disjoint and not empty; parameters in no group belong to no block.
    """
    layout = parameter_layout(model)
    owner, blocks = {}, []
    for name, entries in groups.items():
        entries = [entries] if isinstance(entries, str) else list(entries)
        chosen = []
        for entry in entries:
            found = [e for e in layout if e[0] == entry or e[0].startswith(entry + ".")]
            if not found:
                raise ValueError(f"group {name!r}: the net has no parameter or layer named {entry!r}; its layers "
                                 f"are {', '.join(b.name for b in layer_blocks(model))}")
            for e in found:
                if owner.get(e[0], name) != name:
                    raise ValueError(f"parameter {e[0]} is in two groups, {owner[e[0]]!r} and {name!r}")
                if e[0] not in owner:
                    owner[e[0]] = name
                    chosen.append(e)
        if not chosen:
            raise ValueError(f"group {name!r} holds no parameters")
        blocks.append(_block_of(name, sorted(chosen, key=lambda e: e[1])))
    return blocks


def _check_blocks(operator, blocks, at_least=1, disjoint=False):
    blocks = list(blocks)
    if len(blocks) < at_least:
        named = f" ({blocks[0].name})" if blocks else ""
        raise ValueError(f"per-layer spectra compare blocks of parameters, and this net has {len(blocks)} "
                         f"block{'' if len(blocks) == 1 else 's'}{named}; they need at least {at_least}")
    for block in blocks:
        if block.index.max() >= int(operator.dim):
            raise ValueError(f"block {block.name!r} reaches coordinate {int(block.index.max())}, "
                             f"past the operator's {int(operator.dim)}")
    seen = numpy.concatenate([b.index for b in blocks])
    if disjoint and numpy.unique(seen).size != seen.size:
        raise ValueError("the blocks overlap; each parameter may belong to one block only")
    return blocks


def _block_info(operator, block):
    """What a block's result records: its operator's info, the block, and the full dimension."""
    info = dict(operator.info()) if hasattr(operator, "info") else {}
    return {**info, **block.info(), "full_dim": int(operator.dim)}


class _Coordinates:
    """Embedding a block's vector into the full space and restricting back, on the operator's device."""

    def __init__(self, block, device):
        self.block, self.device = block, device
        self.where = block.slice if block.slice is not None else mg.to_device(block.index, device)

    def embed(self, v, rows, dim):
        v = mg.to_device(v, self.device)
        full = mg.get_array_module(v).zeros(tuple(rows) + (dim,), numpy.float64)
        full[..., self.where] = v
        return full

    def restrict(self, full):
        return full[..., self.where]


class BlockOperator:
    """H_bb = P_b H P_b on block b's coordinates, as an operator the spectral methods take unchanged.

    operator  a Hessian operator (analysis.spectra.HessianOperator, or any with .dim, .matvec and a device)
    block     a Block (layer_blocks, named_blocks)
    Each product costs one product of `operator`; `products` counts them.
    """

    def __init__(self, operator, block):
        _check_blocks(operator, [block])
        self.operator, self.block = operator, block
        self.dim = block.dim
        self.rows = tuple(getattr(operator, "rows", ()))
        self.dtype = getattr(operator, "dtype", numpy.float64)
        self.device = operator_device(operator)
        self.model = getattr(operator, "model", None)
        self.coordinates = _Coordinates(block, self.device)
        self.products = 0

    def info(self):
        return _block_info(self.operator, self.block)

    def matvec(self, v):
        """P_b H P_b v for v of the block's size (one row per member for an ensemble's operator)."""
        if tuple(v.shape) != self.rows + (self.dim,):
            raise ValueError(f"block {self.block.name!r} acts on vectors of shape {self.rows + (self.dim,)}, "
                             f"not {tuple(v.shape)}")
        product = self.operator.matvec(self.coordinates.embed(v, self.rows, int(self.operator.dim)))
        self.products += 1
        return self.coordinates.restrict(product.astype(numpy.float64))

    __matmul__ = matvec

    def dense(self, limit=LIMIT, progress=None):
        """The block's matrix, column by column, symmetrized (d_b products)."""
        return dense_matrix(self.matvec, self.dim, self.rows, self.device.xp, limit, "a dense block", progress)


def _stackable(operator):
    """Whether `operator` is one fully connected net's HessianOperator, whose copies models.ensemble can stack."""
    from models.mlp import MLP
    return isinstance(operator, HessianOperator) and not operator.rows and isinstance(operator.model, MLP)


class BlockProducts:
    """The products of several blocks at once: H P_b v_b for one vector v_b per block, full or restricted.

    operator  a single net's operator (no ensemble rows)
    blocks    the blocks; `stack` of them share one stacked pass (DEFAULT_STACK; 1 or stack=False: one
              block after another). Only a fully connected net's HessianOperator is stacked; any other
              operator multiplies block by block.
    `products` counts Hessian-vector products (one per block vector), `passes` the passes that made them.
    """

    def __init__(self, operator, blocks, stack=DEFAULT_STACK):
        self.blocks = _check_blocks(operator, blocks)
        if getattr(operator, "rows", ()):
            raise ValueError("block products need a single net's operator; measure an ensemble's members "
                             "one by one (model.member(s))")
        self.operator, self.dim = operator, int(operator.dim)
        self.device = operator_device(operator)
        self.coordinates = [_Coordinates(b, self.device) for b in self.blocks]
        self.stack = max(1, int(stack or 1)) if _stackable(operator) else 1
        self._stacked = {}
        self.products = self.passes = 0

    def _stacked_operator(self, k):
        """The operator of k stacked copies of the net: the same data, batches, penalty and method."""
        if k not in self._stacked:
            import copy
            from models.ensemble import Stacked
            op = self.operator
            x = numpy.concatenate([mg.to_host(xb.data) for xb, _ in op.batches])
            y = numpy.concatenate([mg.to_host(yb) for _, yb in op.batches])
            model = Stacked([copy.deepcopy(op.model) for _ in range(k)])
            self._stacked[k] = HessianOperator(model, x, y, batch_size=op.batch_size, penalty=op.penalty,
                                               method=op.method)
        return self._stacked[k]

    def full(self, vectors, which=None):
        """[H P_b v_b] (full-length float64 vectors on the device) for v_b in `vectors`, one per block of
        `which` (indices into self.blocks, default all)."""
        which = list(range(len(self.blocks))) if which is None else list(which)
        vectors = list(vectors)
        if len(vectors) != len(which):
            raise ValueError(f"block products need one vector per block: {len(which)} blocks, {len(vectors)} vectors")
        for i, v in zip(which, vectors):
            if tuple(v.shape) != (self.blocks[i].dim,):
                raise ValueError(f"block {self.blocks[i].name!r} takes vectors of {self.blocks[i].dim} entries, "
                                 f"not shape {tuple(v.shape)}")
        out = []
        for begin in range(0, len(which), self.stack):
            chunk = list(zip(which, vectors))[begin:begin + self.stack]
            if len(chunk) == 1 or self.stack == 1:
                for i, v in chunk:
                    out.append(self.operator.matvec(self.coordinates[i].embed(v, (), self.dim)).astype(numpy.float64))
                    self.passes += 1
            else:
                rows = [self.coordinates[i].embed(v, (), self.dim) for i, v in chunk]
                products = self._stacked_operator(len(chunk)).matvec(mg.get_array_module(rows[0]).stack(rows))
                out.extend(products[r].astype(numpy.float64) for r in range(len(chunk)))
                self.passes += 1
            self.products += len(chunk)
        return out

    def matvec(self, vectors, which=None):
        """[P_b H P_b v_b] on each block's own coordinates: what BlockOperator(operator, b).matvec(v_b) gives."""
        which = list(range(len(self.blocks))) if which is None else list(which)
        return [self.coordinates[i].restrict(p) for i, p in zip(which, self.full(vectors, which))]

    def dense(self, limit=LIMIT, progress=None):
        """Every block's dense matrix, symmetrized: column i of every block at least i + 1 wide in one pass."""
        largest = max(self.blocks, key=lambda b: b.dim)
        if largest.dim > limit:
            raise ValueError(f"the exact method needs each block as a dense matrix, and the largest, "
                             f"{largest.name}, has {largest.dim:,} parameters (limit {limit:,}); "
                             "use the SLQ or moment estimates")
        xp = self.device.xp
        columns = [[] for _ in self.blocks]
        for i in range(largest.dim):
            which = [b for b, block in enumerate(self.blocks) if block.dim > i]
            basis = []
            for b in which:
                e = xp.zeros(self.blocks[b].dim, numpy.float64)
                e[i] = 1.0
                basis.append(e)
            for b, column in zip(which, self.matvec(basis, which)):
                columns[b].append(column)
                if progress:
                    progress()
        matrices = [xp.stack(c, axis=-1) for c in columns]
        return [(h + h.T) / 2 for h in matrices]


class _Dense:
    """A block's matrix, already built, as the operator exact_spectrum takes (no further products)."""

    def __init__(self, matrix, info):
        self.matrix, self._info, self.dim = matrix, info, int(matrix.shape[0])

    def dense(self, progress=None):
        return self.matrix

    def info(self):
        return self._info


def leakage(operator, blocks, probes=DEFAULT_PROBES, seed=0, stack=DEFAULT_STACK, progress=None, products=None):
    """Per block, the mean over `probes` Rademacher probes on the block of 1 - |P_b H v|² / |H v|²; a list of dicts.

    Block b's probes are those slq_spectrum(BlockOperator(operator, b), seed=seed) starts from (a generator
    numpy.random.default_rng(seed) per block). Probe p of every block is one batched pass (BlockProducts).
    Each dict: block, leakage (mean; None when every probe had H v = 0), leakage_stderr (over probes; None
    with fewer than two), per_probe, zero_products.
    """
    products = BlockProducts(operator, blocks, stack) if products is None else products
    blocks = products.blocks
    rngs = [numpy.random.default_rng(seed) for _ in blocks]
    values = [[] for _ in blocks]
    zeros = [0] * len(blocks)
    for _ in range(int(probes)):
        vectors = [mg.to_device(rademacher(rng, block.dim), products.device) for rng, block in zip(rngs, blocks)]
        for b, full in enumerate(products.full(vectors)):
            inside = products.coordinates[b].restrict(full)
            outside = full.copy()
            outside[..., products.coordinates[b].where] = 0.0
            kept, left = mg.to_float(inside @ inside), mg.to_float(outside @ outside)
            if kept + left > 0:
                values[b].append(left / (kept + left))
            else:
                zeros[b] += 1
            if progress:
                progress()
    results = []
    for block, found, zero in zip(blocks, values, zeros):
        found = numpy.array(found, dtype=numpy.float64)
        results.append({"block": block.name, "leakage": float(found.mean()) if found.size else None,
                        "leakage_stderr": float(found.std(ddof=1) / numpy.sqrt(found.size)) if found.size > 1 else None,
                        "per_probe": found, "zero_products": zero})
    return results


class _SideBySide:
    """K blocks as the rows of one operator on max(d_b) coordinates, for Lanczos to run them side by side.

    Row k holds block k's vector in its first d_k entries and zeros after; the zeros stay exactly zero
    through the recurrence, so row k is block k's own Lanczos run (to rounding: its dot products run over
    the longer row). A row is multiplied only for its first `steps[k]` steps (the rest is dropped), and a
    zero row (a run that broke down) not at all, so each block costs what it would alone.
    """

    def __init__(self, batch, steps):
        self.batch, self.steps = batch, list(steps)
        self.dims = [b.dim for b in batch.blocks]
        self.dim, self.rows = max(self.dims), (len(self.dims),)
        self.calls, self.progress = 0, None

    def matvec(self, rows):
        xp = mg.get_array_module(rows)
        live = [k for k, d in enumerate(self.dims)
                if self.calls < self.steps[k] and mg.to_float(xp.abs(rows[k, :d]).max()) > 0]
        out = xp.zeros(rows.shape, numpy.float64)
        for k, product in zip(live, self.batch.matvec([rows[k, :self.dims[k]] for k in live], live)):
            out[k, :self.dims[k]] = product
            if self.progress:
                self.progress()
        self.calls += 1
        return out


def slq_side_by_side(batch, steps=DEFAULT_STEPS, probes=DEFAULT_PROBES, seed=0, window=WINDOW, progress=None):
    """slq_spectrum of every block of `batch` (a BlockProducts), their Lanczos runs side by side: one stacked
    pass per step for all blocks. Block b gets the probes and steps (min(steps, d_b)) slq_spectrum(
    BlockOperator(operator, b)) would, and equals it to rounding; a list of its results, one per block."""
    from .lanczos import DEFAULT_TOL, gauss_quadrature, lanczos
    from .density import default_sigma
    from .slq import _summary
    from .window import WINDOWS
    blocks, probes, sigma = batch.blocks, int(probes), default_sigma(window)
    caps = [min(int(steps), b.dim) for b in blocks]
    padded = _SideBySide(batch, caps)
    padded.progress = progress
    xp = batch.device.xp
    rngs = [numpy.random.default_rng(seed) for _ in blocks]
    runs, breakdowns = [[] for _ in blocks], [[] for _ in blocks]
    began, before = time.perf_counter(), batch.products
    for p in range(probes):
        start = xp.zeros((len(blocks), padded.dim), numpy.float64)
        for k, (rng, block) in enumerate(zip(rngs, blocks)):
            start[k, :block.dim] = mg.to_device(rademacher(rng, block.dim), batch.device)
        padded.calls = 0
        with warnings.catch_warnings():     # a block narrower than the steps closes its Krylov space: expected
            warnings.simplefilter("ignore", LanczosBreakdown)
            results = lanczos(padded.matvec, padded.dim, start, max(caps))
        for k, (alphas, betas) in enumerate(results):
            alphas, betas = alphas[:caps[k]], betas[:caps[k] - 1]
            if len(alphas) < caps[k]:
                breakdowns[k].append({"probe": p, "steps": len(alphas)})
            nodes, weights = gauss_quadrature(alphas, betas)
            runs[k].append({"alphas": alphas, "betas": betas, "nodes": nodes, "weights": weights,
                            "steps": len(alphas)})          # _summary adds each probe's fractions
    seconds = time.perf_counter() - began
    results = []
    for k, block in enumerate(blocks):
        settings = {"steps": caps[k], "probes": probes, "seed": seed, "probe": "rademacher", "reorthogonalize": True,
                    "tol": DEFAULT_TOL, "sigma": sigma, "sigma_is": "standard deviation", "window": window,
                    "windows": WINDOWS, "seconds": seconds / len(blocks),
                    "operator": _block_info(batch.operator, block)}
        results.append(_summary(runs[k], breakdowns[k], None, settings))
    for result in results:
        result["products"] = sum(len(r["alphas"]) for r in result["runs"])
        result["side_by_side"] = {"blocks": len(blocks), "products": batch.products - before}
    return results


def check_per_layer(operator, blocks, method="slq", limit=LIMIT):
    """The blocks, if per_layer_spectra can measure them with `method`; else a ValueError of one sentence
    (fewer than two blocks, overlapping blocks, an ensemble's operator, a block too large for 'exact')."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    blocks = _check_blocks(operator, blocks, at_least=2, disjoint=True)
    if getattr(operator, "rows", ()):
        raise ValueError("per-layer spectra need a single net's operator; measure an ensemble's members "
                         "one by one (model.member(s))")
    largest = max(blocks, key=lambda b: b.dim)
    if method == "exact" and largest.dim > limit:
        raise ValueError(f"the exact method needs each block as a dense matrix, and the largest, "
                         f"{largest.name}, has {largest.dim:,} parameters (limit {limit:,}); "
                         "use the SLQ or moment estimates")
    return blocks


def planned_products(blocks, method="slq", steps=DEFAULT_STEPS, probes=DEFAULT_PROBES, leakage_probes=None):
    """The Hessian-vector products per_layer_spectra will take (each block product is one)."""
    leakage_probes = probes if leakage_probes is None else leakage_probes
    spectra = {"exact": lambda b: b.dim, "moments": lambda b: 2 * probes,
               "slq": lambda b: probes * min(steps, b.dim)}[method]
    return sum(spectra(b) + leakage_probes for b in blocks)


def per_layer_spectra(operator, blocks, method="slq", steps=DEFAULT_STEPS, probes=DEFAULT_PROBES, seed=0,
                      window=WINDOW, leakage_probes=None, stack=DEFAULT_STACK, progress=None, limit=LIMIT):
    """Each block's spectrum (fractions at `window`, extremes) and leakage; a JSON-ready dict.

    operator  a single net's Hessian operator; blocks  at least two Blocks (layer_blocks(model), say)
    method    'exact' (dense blocks, built by batched products), 'slq' (steps x probes per block, steps capped
              at the block's size) or 'moments' (Skilling's moments and the mixture fit, 2 x probes per block),
              each run by its own function on BlockOperator(operator, b), unchanged
    leakage_probes  probes per block for the leakage (default `probes`)
    progress  called once per Hessian-vector product (planned_products(...) calls in all)

    Keys: method, window, blocks (one dict per block: block, params, dim, fractions, max and min (the
    extreme eigenvalues for exact, Ritz values for slq, None for moments), leakage, leakage_stderr,
    zero_products, spectrum (the method's whole result for the block)), products (Hessian-vector products
    used), passes (the passes that made them: stacked products share one), seconds, settings, operator.
    """
    blocks = check_per_layer(operator, blocks, method, limit)
    leakage_probes = probes if leakage_probes is None else int(leakage_probes)
    if leakage_probes < 1:
        raise ValueError(f"the leakage needs at least one probe, got {leakage_probes}")
    began = time.perf_counter()
    batch = BlockProducts(operator, blocks, stack)
    spectra, passes = [], 0
    if method == "exact":
        matrices = batch.dense(limit=limit, progress=progress)
        for block, matrix in zip(blocks, matrices):
            spectra.append(exact_spectrum(_Dense(matrix, _block_info(operator, block)), window=window, limit=limit))
    elif method == "slq" and batch.stack > 1:
        spectra = slq_side_by_side(batch, steps, probes, seed, window, progress)
    for block in blocks if method == "moments" or (method == "slq" and batch.stack == 1) else ():
        single = BlockOperator(operator, block)
        if method == "slq":
            with warnings.catch_warnings():     # recorded in the block's result ("breakdowns"), counted below
                warnings.simplefilter("ignore", LanczosBreakdown)
                spectra.append(slq_spectrum(single, steps=steps, probes=probes, seed=seed, window=window,
                                            progress=progress))
        else:
            spectra.append(moment_spectrum(single, probes=probes, seed=seed, window=window).to_dict())
            for _ in range(2 * probes) if progress else ():
                progress()
        passes += single.products
    leaks = leakage(operator, blocks, leakage_probes, seed, stack, progress, products=batch)
    rows = []
    for block, spectrum, leak in zip(blocks, spectra, leaks):
        extremes = {"exact": ("max", "min"), "slq": ("ritz_max", "ritz_min")}.get(method)
        rows.append({**block.info(), "fractions": spectrum["fractions"],
                     "max": spectrum[extremes[0]] if extremes else None,
                     "min": spectrum[extremes[1]] if extremes else None,
                     **{k: leak[k] for k in ("leakage", "leakage_stderr", "zero_products")},
                     "leakage_per_probe": leak["per_probe"], "spectrum": spectrum})
    products = batch.products + passes
    return jsonable({
        "method": method, "window": window, "blocks": rows,
        "products": products, "passes": batch.passes + passes, "seconds": time.perf_counter() - began,
        "breakdowns": sum(len(s.get("breakdowns", ())) for s in spectra),
        "settings": {"steps": steps if method == "slq" else None, "probes": probes, "seed": seed,
                     "leakage_probes": leakage_probes, "stack": batch.stack},
        "operator": operator.info() if hasattr(operator, "info") else {"dim": int(operator.dim)},
    })
