"""What `spectrum` and `singularities` measure: a run's last checkpoint, or a fresh net of the model flags.

Either way the data subset is the first `samples` training examples (originals before the added
mirrors; CIFAR's files are already in random order), fixed for the whole computation. Each
returns (model, x, labels, what), `what` the line naming the source in the results.
"""
from models.training import TrainConfig, load_run, prepare


def run_folder(run_dir, samples, device="cpu", dtype="float64", data_root=None):
    """The net of a run folder at its last checkpoint, cast to `dtype` on `device` (RunError when it holds none).

    device, here and in fresh_net: a Device (the CLI's, resolved once) or a name, resolved where the net is made."""
    config, data, model, epoch = load_run(run_dir, device=device, data_root=data_root, dtype=dtype)
    return _subset(model, data, samples, f"{run_dir} (epoch {epoch})")


def fresh_net(model, data, arch, samples, seed=0, device="cpu", dtype="float64"):
    """A freshly initialized net of the model and data configs (models.options.configs), `arch` its CLI name."""
    data, net = prepare(TrainConfig(model=model, data=data, seed=seed, dtype=dtype), device=device)
    return _subset(net, data, samples, f"fresh {arch} net (seed {seed})")


def measured(run_dir, samples, seed, device, dtype, params, nets):
    """run_folder of `run_dir` when one is given, else fresh_net of `nets`, the (model, data) configs of the model
    and data options `params` (models.options.configs)."""
    if run_dir:
        return run_folder(run_dir, samples, device, dtype, params["data_dir"])
    return fresh_net(*nets, params["arch"], samples, seed, device, dtype)


def _subset(model, data, samples, what):
    n = min(samples, len(data.train_y))
    return model, data.train_x[:n], data.train_y[:n], what
