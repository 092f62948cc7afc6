"""The one measurement plan: what a run measures and when, as the EpochHooks the training loop calls.

A plan is JSON (part of a reproduction run's identity); `measurements(plan)` turns it into
`models.training.EpochHook`s that `models.training.train` runs at their epochs, so every
estimate sees exactly the weights and data of that epoch:

    plan = {"hessian": {"methods": ["moments"], "epochs": [0, 2, 8], "samples": 512, "probes": 5,
                        "steps": 100, "windows": [1e-06, 3.16e-06, ..., 1.0]},
            "meters": {"samples": 500}}

hessian: the training objective's Hessian (BiasReg penalty included) on the first `samples` examples,
    by each of `methods` (analysis/spectra/; every member of a stacked ensemble from one operator):
    "moments" writes hessian/degeneracy, negativity, the fit's w, xi, omega, alpha and m1..m4; "exact"
    and "slq" their degenerate and negative fractions; each also its fractions at every one of `windows`
    (hessian/<mixture|exact|slq>_<degenerate|negative>_curve), so no single window decides.
meters: every singularity meter (analysis/meters.py) on the first `samples` examples, every epoch.
"""
from analysis.spectra.window import WINDOWS
from models.training import EpochHook

from .meters import BATCH_SIZE, METERS, N_SAMPLES, SOURCES, TOP, all_meters, flatten

# the dense Hessians of an ensemble's members are built at once up to this many bytes (per device); beyond, one by one
EXACT_BATCH_BYTES = {"cpu": 2 ** 30, "cuda": 2 ** 34}     # other devices: the CPU's


def hessian_measurement(methods, epochs, samples, probes, steps=100, windows=WINDOWS):
    """An EpochHook measuring the Hessian spectrum by `methods` at `epochs` (the plan's "hessian" entry)."""
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

    return EpochHook("hessian", lambda model, data, epoch: measure(model, data, epoch)[0], epochs=set(epochs),
                       batched=lambda model, data, epoch: measure(model, data, epoch) if model.stacked else None)


def meters_measurement(names=METERS, n_samples=N_SAMPLES, epochs=None, name="meters", include_first=False,
                       batch_size=BATCH_SIZE, sources=SOURCES, per_layer=True, top=TOP):
    """An EpochHook running the singularity meters `names` (analysis/meters.py) on the first n_samples training
    examples at `epochs` (None: every epoch); its numbers are meters.flatten's keys."""
    names = tuple(names)
    unknown = [n for n in names if n not in METERS]
    if unknown:
        raise ValueError(f"unknown meter {unknown[0]!r}; choose from: {', '.join(METERS)}.")

    def fn(model, data, epoch):
        x, y = data.train_x[:n_samples], data.train_y[:n_samples]
        return flatten(all_meters(model, x, y, include_first, batch_size, sources, top, names), per_layer)

    return EpochHook(name, fn, epochs)


def measurements(plan):
    """The models.training.EpochHook list a plan describes."""
    out = []
    if "hessian" in plan:
        h = plan["hessian"]
        out.append(hessian_measurement(h["methods"], h["epochs"], h["samples"], h["probes"], h.get("steps", 100),
                                       tuple(h.get("windows", WINDOWS))))
    if "meters" in plan:
        out.append(meters_measurement(n_samples=plan["meters"]["samples"], name="meters"))
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
