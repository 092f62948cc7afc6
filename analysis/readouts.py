"""What `spectrum` and `singularities` print of a result, as (title, columns, rows) of strings: the CLI draws them.

A readout reads a result.json or meters.json as it is written, so a test checks one without click or rich.
"""


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


def meters_readout(result, what):
    """The table of the singularity meters: one row per hidden layer, one column per meter, and their means."""
    from .spectrum_and_meter_plots import meter_panels
    panels = meter_panels(result)
    depth = max(len(meter["layers"]) for _, meter in panels)
    cell = lambda values, i: "" if i >= len(values) or values[i] is None else f"{values[i]:.4g}"  # noqa: E731
    rows = [(layer + 1, *[cell(meter["layers"], layer) for _, meter in panels]) for layer in range(depth)]
    rows.append(("mean", *[f"{meter['mean']:.4g}" for _, meter in panels]))
    return (f"singularity meters of {what} ({result['n_samples']} examples)",
            ("layer", *[name for name, _ in panels]), rows)
