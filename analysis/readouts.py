"""What the commands print of a result, as (title, columns, rows) of strings or as lines: the CLI draws them.

    history_readout, members_readout   train: a run's epochs; the seeds of an ensemble and those that diverged
    spectrum_readout, per_layer_readout, singularities_readout   spectrum and singularities
    rough_warning                      spectrum: fewer probes or steps than PROBES, STEPS (its defaults)
    toy_readout                        toy: a toy model's summary
    packed_line, unpacked_lines        runs pack and runs unpack: what the archive took or gave

A readout reads a result as it is written (a metrics.jsonl, result.json, meters.json, ...), so a
test checks one without click or rich.
"""

from .spectra.slq import DEFAULT_PROBES as PROBES, DEFAULT_STEPS as STEPS   # spectrum's defaults; fewer: rough


def history_readout(history, title):
    """The table of a run's metrics.jsonl rows: the first 3 and last 8 epochs of a long run, every one otherwise."""
    shown = history if len(history) <= 12 else history[:3] + history[-8:]
    return (title, ("epoch", "train loss", "train acc", "test loss", "test acc", "seconds"),
            [(r["epoch"], f"{r['train_loss']:.4f}", f"{r['train_acc']:.2%}", f"{r['test_loss']:.4f}",
              f"{r['test_acc']:.2%}", f"{r['seconds']:.1f}") for r in shown])


def members_readout(configs, outcomes, folders):
    """(title, columns, rows, failure) of `train --members`: one row per seed (train_ensemble's outcome, a summary
    dict or a Diverged); failure is the sentence naming the runs that diverged, None when none did."""
    rows = [(config.seed, "finished", f"{o['train_acc']:.2%}", f"{o['test_acc']:.2%}", folder) if isinstance(o, dict)
            else (config.seed, "diverged", "", "", folder) for config, o, folder in zip(configs, outcomes, folders)]
    diverged = [str(o) for o in outcomes if not isinstance(o, dict)]
    failure = f"{len(diverged)} of {len(configs)} runs diverged: " + "; ".join(diverged) if diverged else None
    return (f"{len(configs)} seeds trained as one ensemble", ("seed", "status", "train acc", "test acc", "run folder"),
            rows, failure)


def spectrum_readout(result, method, what):
    """The table of one spectrum estimate: size, fractions, window, and the extreme eigenvalues it has."""
    fr, info = result["fractions"], result["operator"]
    rows = [("parameters", f"{info['dim']:,}"), ("data subset", f"{info['n_samples']:,} examples"),
            ("degenerate fraction (|λ| ≤ w)", f"{fr['degenerate']:.4f}"),
            ("negative fraction (λ < -w)", f"{fr['negative']:.4f}"), ("window w", f"{fr['window']:g}")]
    rows += [(name, ", ".join(f"{v:.4g}" for v in result[name])) for name in ("top", "bottom") if name in result]
    return f"{method} spectrum of {what}", ("quantity", "value"), rows


def per_layer_readout(result, method, window, groups, what):
    """(title, columns, rows, lines) of per-layer spectra: one row per block (the moment fit has no extremes);
    lines: the one before the table (what was measured), then the legend, breakdowns and cost after it."""
    extremes = method != "moments"          # the moment fit gives no extreme eigenvalues
    rows = [(b["block"], f"{b['dim']:,}", f"{b['fractions']['degenerate']:.4f}", f"{b['fractions']['negative']:.4f}",
             *((f"{b['max']:.3g}", f"{b['min']:.3g}") if extremes else ()),
             "–" if b["leakage"] is None else f"{b['leakage']:.4f}")
            for b in result["blocks"]]
    kind = "eig." if method == "exact" else "Ritz"
    columns = ("layer", "params", "degen.", "neg.", *((f"{kind} max", f"{kind} min") if extremes else ()), "leakage")
    lines = [f"{what}: {len(rows)} {'blocks' if groups else 'layers'}, {result['operator']['dim']:,} parameters",
             "degen.: |λ| ≤ w; neg.: λ < -w; leakage: share of |H v|² leaving the layer, for v on the layer "
             "(0: H block-diagonal there)"]
    if result["breakdowns"]:
        lines.append(f"{result['breakdowns']} Lanczos runs ended early on an invariant Krylov space (their Ritz "
                     "values are exact)")
    passes = f" in {result['passes']:,} passes" if result["passes"] != result["products"] else ""
    lines.append(f"cost: {result['products']:,} Hessian-vector products{passes}, {result['seconds']:.1f} s")
    return f"per-layer {method} spectra, window w = {window:g}", columns, rows, lines


def rough_warning(method, probes, steps, per_layer):
    """The warning that a spectrum of fewer probes (or steps) than the defaults can be far off (None: enough)."""
    if method == "exact" or not (probes < PROBES or (method == "slq" and steps < STEPS)):
        return None
    what = ("each block's fractions can be far off" if per_layer else "the fractions can be far off (SLQ resolves "
            "eigenvalues to about the spectral range / steps; the moments' error shrinks as 1/sqrt(probes))")
    return (f"fewer probes{' or steps' if method == 'slq' else ''} than the defaults ({PROBES} probes, {STEPS} "
            f"steps): {what}")


def singularities_readout(result, what):
    """(title, columns, rows, lines) of `singularities`: one row per hidden layer and one for the means, one column
    per meter under its name in SINGULARITY_NAMES (the names of meters.png and docs/guide.md), every cell at most
    7 characters so that the table fits 80 columns; lines: the one before the table (what was measured), then what
    each column means and the logits' scale, after it. erank and top3 are the layer output's (the figure also
    draws the ReLU branch's)."""
    from .spectrum_and_meter_plots import FRACTIONS, SINGULARITY_NAMES, singularity_columns
    columns = [(name, sources.get("out", sources.get(""))) for name, sources in singularity_columns(result)]
    columns = [(name, meter) for name, meter in columns if meter is not None]
    depth = max(len(meter["layers"]) for _, meter in columns)

    def cell(name, value):
        return "–" if value is None else f"{value:.3f}" if name in FRACTIONS else _short(value)
    rows = [(str(layer + 1), *[cell(name, meter["layers"][layer] if layer < len(meter["layers"]) else None)
                               for name, meter in columns]) for layer in range(depth)]
    rows.append(("mean", *[cell(name, meter["mean"]) for name, meter in columns]))
    shown = {name for name, _ in columns}
    lines = [f"{what}: {depth} hidden layers, {result['n_samples']:,} examples"]
    lines += [f"{name}: {meaning}" for name, _, meaning in SINGULARITY_NAMES if name in shown]
    weights = [name for name, meter in columns if name in ("norm", "overlap") and not meter.get("include_first", True)]
    over = (f"mean: over layers 2..{depth} for {' and '.join(weights)}, over every layer for the others"
            if weights and depth > 1 else "mean: over every layer")
    lines.append(over)
    if shown & {"erank", "top3"}:
        lines.append("erank and top3: of the layer output (meters.png also shows the ReLU branch's)")
    scale = result.get("activation_scale") or {}
    if "logits" in scale:
        lines.append(f"rms of the logits: {_short(scale['logits'])}; rms growth, last layer over first: "
                     f"{_short(scale['growth'])}")
    return "singularity meters per hidden layer", ("layer", *[name for name, _ in columns]), rows, lines


def _short(value):
    """A number in at most 7 characters: 3 significant digits from 0.1 to 999, else like -1.2e-4 or 3.4e8."""
    if value == 0 or value != value or abs(value) == float("inf"):
        return str(value) if value else "0"
    if 0.1 <= abs(value) < 999.5:
        return f"{value:#.3g}".rstrip(".")      # trailing zeros kept: 1.00, 18.0, 124
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def toy_readout(toy_module, summary):
    """The table of a toy model's summary (its module's summary_rows): a float to 4 digits, None not reached."""
    title, rows = toy_module.summary_rows(summary)
    fmt = lambda x: "not reached" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731
    return title, ("quantity", "value"), [(k, fmt(v)) for k, v in rows]


def packed_line(counts, archive):
    """What `runs pack` says of the archive it wrote (archive.pack's counts)."""
    return f"packed {counts['packed']} finished runs ({counts['skipped']} not done, left out) into {archive}"


def unpacked_lines(counts, archive, root, named):
    """What `runs unpack` says of one archive (archive.unpack's counts), its name first when `named`."""
    return [(f"{archive}: " if named else "") +
            f"unpacked into {root}: added {counts['added']}, kept {counts['kept']} (finished here "
            f"already), replaced {counts['replaced']} (not finished here), skipped {counts['skipped']} "
            "(locked by a trainer)"] + [f"  skipped: {note}" for note in counts["notes"]]
