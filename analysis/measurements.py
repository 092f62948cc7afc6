"""The one measurement plan: what a run measures and when, as hooks the training loop calls.

A plan is JSON (part of a reproduction run's identity); `measurements(plan)` turns it into
the `models.training.Measurement` hooks that `models.training.train` runs at their epochs,
so every estimate sees exactly the weights and data of that epoch.

    plan = {"hessian": {"methods": ["moments"], "epochs": [0, 2, 8], "samples": 512, "probes": 5,
                        "steps": 100, "windows": [1e-06, 3.16e-06, ..., 1.0]},
            "meters": {"samples": 500}}

hessian: the spectrum of the Hessian of the training objective (cross-entropy plus
    the BiasReg penalty where a net has one: the loss the optimizer sees) on the first
    `samples` training examples, at `epochs`; products run in the model's dtype and the
    spectral recurrences in float64 (analysis/spectra/hessian.py). The members of a stacked
    ensemble (models/ensemble.py) are measured together: one operator multiplies every
    member's Hessian at once (SLQ's Lanczos recurrences run side by side), each member with the
    probes its single run would draw; the exact spectra go one member at a time beyond
    EXACT_BATCH_BYTES of dense matrices. Methods (analysis/spectra/):
    "moments" is the paper's: Skilling moments from `probes` Gaussian probes and the
    grid-fitted mixture, giving the degeneracy and negativity indices
    (hessian/degeneracy, hessian/negativity) and the fit (hessian/w, xi, omega,
    alpha); "exact" the dense eigendecomposition (small nets); "slq" Lanczos
    quadrature with `steps` steps per probe. All three use the same window (|λ| <=
    3e-3, analysis/spectra/window.py) and the same operator, and each also records its
    degenerate and negative fractions at every one of `windows` (hessian/<method>_degenerate_curve,
    hessian/<method>_negative_curve, method mixture, exact or slq), so no single window decides.
meters: every singularity meter and the activation scale (analysis/meters.py) on the
    first `samples` training examples, every epoch (they cost a forward and a
    backward pass), per layer.
"""
from analysis.spectra.window import WINDOWS
from models.training import Measurement

# the dense Hessians of an ensemble's members are built at once up to this many bytes (per device); beyond, one by one
EXACT_BATCH_BYTES = {"cpu": 2 ** 30, "cuda": 2 ** 34}     # other devices: the CPU's


def hessian_measurement(methods, epochs, samples, probes, steps=100, windows=WINDOWS):
    from analysis.spectra.exact import exact_spectrum
    from analysis.spectra.hessian import HessianOperator
    from analysis.spectra.moments import moment_spectrum
    from analysis.spectra.slq import slq_spectrum
    from analysis.spectra.window import fraction_curves

    def listed(result):
        return result if isinstance(result, list) else [result]

    def curves(method, found):
        """The fractions over `windows` as two lists (the plan records the windows)."""
        return {f"{method}_degenerate_curve": found["degenerate"], f"{method}_negative_curve": found["negative"]}

    def measure(model, data, epoch):
        """One dict per member: a single net, or every member of a stacked ensemble from one operator."""
        def operator_of(net):
            return HessianOperator(net, data.train_x[:samples], data.train_y[:samples], penalty=True)
        operator = operator_of(model)
        members = operator.rows[0] if operator.rows else 1
        out = [{} for _ in range(members)]
        if "moments" in methods:
            for row, result in zip(out, listed(moment_spectrum(operator, probes=probes, seed=epoch))):
                row.update(degeneracy=result.degeneracy_index, negativity=result.negativity_index, **result.fit.params)
                row.update({f"m{k}": float(m) for k, m in enumerate(result.moments, 1)})
                row.update(curves("mixture", fraction_curves(lambda w: result.fit.cdf(), windows)))
        if "exact" in methods:
            if members * operator.dim ** 2 * 8 <= EXACT_BATCH_BYTES.get(model.device.kind, 2 ** 30):
                results = listed(exact_spectrum(operator, keep_eigenvalues=False, windows=windows))
            else:           # one member's dense Hessian at a time
                results = [exact_spectrum(operator_of(model.member(s)), keep_eigenvalues=False, windows=windows)
                           for s in range(members)]
            for row, result in zip(out, results):
                row.update(exact_degenerate=result["fractions"]["degenerate"],
                           exact_negative=result["fractions"]["negative"], **curves("exact", result["curves"]))
        if "slq" in methods:
            results = listed(slq_spectrum(operator, steps=min(steps, operator.dim), probes=probes, seed=epoch,
                                          windows=windows))
            for row, result in zip(out, results):
                row.update(slq_degenerate=result["fractions"]["degenerate"], slq_negative=result["fractions"]["negative"],
                           **curves("slq", result["curves"]))
        return out

    return Measurement("hessian", lambda model, data, epoch: measure(model, data, epoch)[0], epochs=set(epochs),
                       batched=lambda model, data, epoch: measure(model, data, epoch) if model.stacked else None)


def measurements(plan):
    """The models.training.Measurement list a plan describes."""
    from analysis import meters
    out = []
    if "hessian" in plan:
        h = plan["hessian"]
        out.append(hessian_measurement(h["methods"], h["epochs"], h["samples"], h["probes"], h.get("steps", 100),
                                       tuple(h.get("windows", WINDOWS))))
    if "meters" in plan:
        out.append(meters.measurement(n_samples=plan["meters"]["samples"], name="meters"))
    return out


def plan(preset, epochs, methods=("moments",), hessian_epochs=None, meters=True, samples=None):
    """The usual plan: Hessian indices at the preset's epochs, meters every epoch."""
    out = {}
    if methods:
        samples = samples or (preset.exact_samples if "exact" in methods else preset.hessian_samples)
        out["hessian"] = {"methods": list(methods), "epochs": sorted(hessian_epochs or preset.hessian_epochs(epochs)),
                          "samples": samples, "probes": preset.probes, "steps": preset.slq_steps,
                          "windows": list(WINDOWS)}
    if meters:
        out["meters"] = {"samples": preset.meter_samples}
    return out
