"""One spectrum by the name of its method, as `spectrum` writes it, and its cost told before it starts.

    products   the Hessian-vector products a method takes on an operator (ValueError: one it cannot)
    cost       one product timed: the sentence saying what all of them will take
    estimate   the method run; its result.json, naming the method asked, the estimator and the source
    per_layer  per_layer_spectra's result.json, naming the source
    per_layer_blocks, parse_groups   the blocks `spectrum --per-layer [--group ...]` measures, and their cost
    plan, spectrum   what `spectrum` computes (whole Hessian or per layer), its cost counted first, then run
"""
import time

import numpy

from .blocks import check_per_layer, layer_blocks, named_blocks, per_layer_spectra, planned_products
from .exact import LIMIT, exact_spectrum
from .moments import moment_spectrum
from .slq import slq_spectrum
from .window import WINDOW


def products(operator, method, probes, steps, limit=LIMIT):
    """The Hessian-vector products `method` takes on `operator`: its dimension (exact), 2 x probes (moments) or
    probes x steps (slq); a ValueError of one sentence when the exact method's dense Hessian is too large."""
    if method == "exact" and operator.dim > limit:
        raise ValueError(f"the exact method needs a dense {operator.dim}x{operator.dim} Hessian; "
                         "use --method slq or moments for a net this size")
    return {"exact": operator.dim, "moments": 2 * probes, "slq": probes * steps}[method]


def cost(operator, products):
    """Time one Hessian-vector product and say what `products` of them will cost, before they start."""
    began = time.perf_counter()
    operator.matvec(numpy.random.default_rng(0).standard_normal(operator.dim))
    each = time.perf_counter() - began
    total = products * each
    when = f"{total:.0f} s" if total < 120 else f"{total / 60:.0f} min"
    return (f"{products:,} Hessian-vector products on {operator.dim:,} parameters, {each:.2g} s each: "
            f"about {when}")


def estimate(operator, method, probes, steps, seed=0, window=WINDOW, progress=None, source=None):
    """The spectrum of `operator` by `method` (exact, moments or slq), as result.json holds it: the method's
    result, with `method` the one asked, `estimator` the method the result names itself, and `source` what
    was measured. progress: called once per Hessian column (exact) or Lanczos step (slq)."""
    if method == "exact":
        result = exact_spectrum(operator, window=window, progress=progress)
    elif method == "moments":
        result = moment_spectrum(operator, probes=probes, seed=seed, window=window).to_dict()
    else:
        result = slq_spectrum(operator, steps=steps, probes=probes, seed=seed, window=window, progress=progress)
    result["estimator"] = result.get("method")
    result.update(method=method, source=source)
    return result


def per_layer(operator, blocks, method, probes, steps, seed=0, window=WINDOW, progress=None, source=None):
    """per_layer_spectra(...) as result.json holds it, with `source` what was measured."""
    result = per_layer_spectra(operator, blocks, method=method, steps=steps, probes=probes, seed=seed,
                               window=window, progress=progress)
    result["source"] = source
    return result


def parse_groups(texts):
    """--group's texts, NAME=LAYER[,LAYER...] each, as named_blocks' {name: [layer or parameter names]};
    a ValueError of one sentence for a text of another form or a name given twice."""
    groups = {}
    for text in texts:
        name, sep, members = text.partition("=")
        entries = [m.strip() for m in members.split(",") if m.strip()]
        if not sep or not name.strip() or not entries:
            raise ValueError(f"{text!r} is not NAME=LAYER[,LAYER...] (e.g. early=hidden.0,hidden.1)")
        if name.strip() in groups:
            raise ValueError(f"the group {name.strip()!r} is given twice")
        groups[name.strip()] = entries
    return groups


def per_layer_blocks(model, operator, method, probes, steps, groups=None):
    """(blocks, products) of per-layer spectra of `model`: one block per layer, or one per named group
    (parse_groups), and the Hessian-vector products per_layer takes on them; a ValueError of one sentence
    when per_layer cannot measure them (check_per_layer, named_blocks)."""
    blocks = check_per_layer(operator, named_blocks(model, groups) if groups else layer_blocks(model), method)
    return blocks, planned_products(blocks, method, steps, probes)


def plan(model, operator, method, probes, steps, per_layer=False, groups=None):
    """(blocks, products, label) of what `spectrum` computes: the per-layer blocks (None: the whole Hessian), the
    Hessian-vector products they take, and what a progress bar counts (None: the moments method reports none);
    a ValueError of one sentence for a measurement it cannot make (products, per_layer_blocks)."""
    if per_layer:
        return (*per_layer_blocks(model, operator, method, probes, steps, groups), "block products")
    label = {"exact": "Hessian columns", "slq": "Lanczos steps"}.get(method)
    return None, products(operator, method, probes, steps), label


def spectrum(operator, blocks, method, probes, steps, seed=0, window=WINDOW, progress=None, source=None):
    """The result that `plan` planned: per_layer on `blocks`, or the estimate of the whole Hessian (blocks None)."""
    if blocks is not None:
        return per_layer(operator, blocks, method, probes, steps, seed, window, progress=progress, source=source)
    return estimate(operator, method, probes, steps, seed, window, progress=progress, source=source)
