"""Where `spectrum` and `singularities` write by default: a measurement of a run lives in that run's folder.

    RUN/spectrum/<method>/            result.json, density.png    spectrum --run RUN --method <method>
    RUN/singularities/                meters.json, meters.png     singularities --run RUN
    results/spectrum/<net>/<method>/  (the same files)            spectrum on a fresh net (the model flags)
    results/singularities/<net>/                                  singularities on a fresh net

A fresh net's folder is named as `train` names a run folder (arch, depth, variants, data set,
seed), then the hash of everything that makes the net (its model and data configs and its seed,
not the data folder), as the reproduction names its runs: two different nets never share a
folder and the same net always finds its own. The measurement's own settings (--samples,
--dtype, --probes, --steps, ...) do not name the folder: measuring the same net again replaces
its earlier result, and `replacing` gives the line that says so (also for a given --out);
`save` writes a result and its figure and gives the lines to print.

These subfolders are no part of a run's format. The readers of a run folder (load_run, the
reproduction's runner and `verify`) read only its own files by name, so a measured run stays
finished and matched; `runs pack` carries only config.json, metrics.jsonl and summary.json of
each run (and unpack accepts nothing else), so a measurement stays on the machine that made it,
like the checkpoint it was made from. A subfolder is only made in a folder that holds a run
with weights to measure (config.json and checkpoint.npz): never in a folder that is no run, nor
in one that stopped before its first checkpoint, which `train` must find empty to start again.
"""
import hashlib
import json
import os

from models.files import write_json
from models.options import run_name
from models.training import RunError
from models.training.loop import CHECKPOINT, CONFIG

RESULTS = "results"
MEASUREMENTS = {            # measurement -> (its files, what the line about an earlier result calls it)
    "spectrum": (("result.json", "density.png"), "spectrum"),
    "singularities": (("meters.json", "meters.png"), "singularity meters"),
}


def net_key(identity):
    """A short hash of a JSON-able description of a net (the scheme of the reproduction's run names)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def output_folder(measurement, run_dir=None, net=None, method=None, root=RESULTS):
    """The default folder of `measurement` ("spectrum" or "singularities"), with `method` as a last part if given.

    run_dir: the run folder measured (RunError, as load_run words it, when it holds no run with weights).
    net: (stem, identity) of a fresh net instead: stem its run name, identity what makes it (hashed).
    """
    if measurement not in MEASUREMENTS:
        raise ValueError(f"unknown measurement {measurement!r}; one of {', '.join(MEASUREMENTS)}")
    if (run_dir is None) == (net is None):
        raise ValueError("give the run folder measured or the fresh net, not both")
    if run_dir is not None:
        missing = [name for name in (CONFIG, CHECKPOINT) if not os.path.isfile(os.path.join(run_dir, name))]
        if missing:
            raise RunError(f"{run_dir} is not a run folder: it has no {missing[0]}")
        base = os.path.join(run_dir, measurement)
    else:
        stem, identity = net
        base = os.path.join(root, measurement, f"{stem}-{net_key(identity)}")
    return os.path.join(base, method) if method else base


def net_folder(measurement, stem, model, data, seed, method=None, root=RESULTS):
    """output_folder of a fresh net: `stem` its run name, hashed with what makes it (its model and data
    configs, without the data folder and downloading, and its seed)."""
    identity = {"model": model, "data": {k: v for k, v in data.items() if k not in ("root", "download")}, "seed": seed}
    return output_folder(measurement, net=(stem, identity), method=method, root=root)


def default_folder(measurement, run_dir, seed, params, nets, method=None):
    """The folder a measurement writes to without --out: output_folder of its run folder, else net_folder of a
    fresh net, named by train's run name of the model options `params` and `nets`, their (model, data) configs."""
    if run_dir:
        return output_folder(measurement, run_dir=run_dir, method=method)
    model, data = nets
    stem = run_name(params["arch"], params["depth"], params["dataset"], seed, model)
    return net_folder(measurement, stem, model, data, seed, method)


def replacing(folder, measurement):
    """The line to print when writing `measurement` into `folder` replaces an earlier one there; else None."""
    files, called = MEASUREMENTS[measurement]
    if any(os.path.exists(os.path.join(folder, name)) for name in files):
        return f"replaced the earlier {called} in {folder}"
    return None


def save(folder, measurement, result, files, draw, title):
    """Write `result` as files[0] (JSON) and draw(result, path, title=title) as files[1] into `folder`; returns
    the lines that say so: the one from `replacing` (when an earlier result was there), then where they went."""
    replaced = replacing(folder, measurement)
    write_json(os.path.join(folder, files[0]), result)
    draw(result, os.path.join(folder, files[1]), title=title)
    return [line for line in (replaced, "written to " + " and ".join(os.path.join(folder, name) for name in files))
            if line]
