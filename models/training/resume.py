"""`train --resume`: the settings a run keeps, and the options given that disagree with them.

A run folder's config.json holds the settings it was trained with. Resuming it continues those:
the options left out are the run's own, and those given must agree with them. Only the options
in RESUMABLE may differ (the epochs to reach, the device, the data folder, ...).

Options are click's parsed values keyed by name (`options`, every option of the command) and the
names given on the command line (`given`); none of this needs click. A run that cannot be
continued as asked is a RunError of one sentence: SettingsDiffer when the options disagree.

planned_runs is all of it for one `train` command (which configs go into which folders, which of
them resume), and interrupted the line that says how to continue it after a Ctrl-C.
"""
import dataclasses
import os
import shlex
from typing import NamedTuple

from models.options import ARCHS, configs, run_name

from .lock import RunError
from .loop import CHECKPOINT, TrainConfig, read_config

RESUMABLE = {"out", "resume", "members", "device", "epochs", "data_dir", "download"}   # may differ when resuming


class SettingsDiffer(RunError):
    """The options given, or the runs resumed together, disagree with a run's saved settings."""


def train_config(options, command=None):
    """The TrainConfig of train's parsed options; a ValueError of one sentence when they name no net
    (models.options.configs; command: the options of the command that asks, default `options`)."""
    model, data = configs(options, options if command is None else command, training=True)
    return TrainConfig(model=model, data=data, epochs=options["epochs"], batch_size=options["batch_size"],
                       lr=options["lr"], seed=options["seed"], dtype=options["dtype"], device=options["device"])


def fixed(config):
    """What resuming may not change in a TrainConfig: all but what the options in RESUMABLE set."""
    return dict(dataclasses.asdict(config), epochs=None, device=None,
                data={k: v for k, v in config.data.items() if k not in ("root", "download")})


def options_of(config):
    """The values of train's options that give the saved TrainConfig `config` (configs' inverse); None for a
    net no option names."""
    model, data = config.model, config.data
    arch = next((name for name, kind in ARCHS.items() if kind == (model.get("arch"), model.get("skip"))), None)
    if arch is None:
        return None
    bias_reg = model.get("bias_reg")
    mu, sigma = bias_reg if isinstance(bias_reg, list) else (None, None)
    return {"arch": arch, "depth": model.get("depth"), "width": model.get("width"), "blocks": model.get("blocks"),
            "widths": tuple(model.get("widths", ())), "init": model.get("init", "glorot_normal"),
            "skip_matrix": model.get("skip_matrix"), "hyper_matrix": model.get("hyper_matrix"),
            "reg": "none" if bias_reg is None else "biasl2" if bias_reg == "l2" else "biasreg",
            "reg_mu": mu, "reg_sigma": sigma, "reg_lambda": model.get("bias_lambda"),
            "bn_layer": model.get("bn_layer"), "skip_scale": model.get("skip_scale", "none"),
            "branch_init": model.get("branch_init", "glorot"),
            "hyper_q_draw": model.get("hyper_q_draw", "per-source"), "dataset": data.get("name"),
            "labels": data.get("labels", "coarse"), "mirror": data.get("mirror"),
            "preprocess": data.get("preprocess", "standardize"), "pca": data.get("pca"),
            "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed, "dtype": config.dtype}


def disagreeing(saved, options, given, free=()):
    """The options given (but RESUMABLE and `free`) that disagree with the saved TrainConfig `saved`, in the
    order of `options`.

    An option agrees when setting it on top of the options that give the run (options_of)
    leaves the run's settings as they are: `--depth 3` for a run of depth 3, or for a conv
    net, which has no depth. Where no options give the run, every option given disagrees.
    """
    given = [name for name in options if name not in RESUMABLE and name not in free and name in given]
    own = options_of(saved)
    if not given or own is None:
        return given
    own = dict(options, **own)

    def settings(values):
        try:
            return fixed(train_config(values, command=options))
        except ValueError:
            return None
    reference = settings(own)
    if reference is not None and settings(dict(own, **{name: options[name] for name in given})) == reference:
        return []
    return [name for name in given if settings(dict(own, **{name: options[name]})) != reference] or given


def resumed_config(folder, options, given, free=()):
    """The saved config of the run in `folder`, as resuming it with these options continues it.

    RunError when the folder holds no run to read; SettingsDiffer naming the options given that disagree
    with it (`free`: options not to check)."""
    config = read_config(folder)
    wrong = disagreeing(config, options, given, free)
    if wrong:
        flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
        raise SettingsDiffer(f"the run in {folder} was trained with other settings: drop {flags} to continue "
                             "it (only --epochs, --device and --data-dir may change on resuming)")
    if "epochs" in given:
        config.epochs = options["epochs"]
    config.device = options["device"]
    if options["data_dir"] is not None:
        config.data["root"] = options["data_dir"]
    config.data["download"] = options["download"]
    return config


def member_runs(base, members, root, name, resume, options, given):
    """train --members: (configs, folders, resumes) of the seeds of `base` as one ensemble, each into
    <root>/<name(seed)>; resumes[k] says whether member k continues from its checkpoint.

    With `resume`, the members with a checkpoint continue from it and the others start, all with
    the settings of the first that continues (the options given must agree with it, as for one run;
    RunError when no member has a checkpoint, SettingsDiffer when the members' settings differ).
    """
    seeds = [base.seed + k for k in range(members)]
    folders = [os.path.join(root, name(seed)) for seed in seeds]
    resumes = [resume and os.path.exists(os.path.join(folder, CHECKPOINT)) for folder in folders]
    if resume and not any(resumes):     # options that name no run must not start new ones
        raise RunError(f"nothing to resume: there is no {CHECKPOINT} in {folders[0]} or the other "
                       f"{members - 1} run folders these options name; drop --resume to start them")
    if any(resumes):        # the folders' seeds are named by the options: each member's own is checked below
        first = folders[resumes.index(True)]
        base = dataclasses.replace(resumed_config(first, options, given, free={"seed"}), seed=base.seed)
    runs = [dataclasses.replace(base, seed=seed, data=dict(base.data)) for seed in seeds]
    for folder, config, again in zip(folders, runs, resumes):
        if again and fixed(read_config(folder)) != fixed(config):
            raise SettingsDiffer(f"the run in {folder} was trained with other settings than {first}: "
                                 "resume them apart, each with the command that started it")
    return runs, folders, resumes


RUNS = "runs"       # the folder `train` names its run folders in when --out is not given


class PlannedRuns(NamedTuple):
    """What one `train` command trains: each member's TrainConfig, run folder and whether it resumes, and the
    folder to show writable before any work (the run's own, or the members' root)."""
    configs: list
    folders: list
    resumes: list
    root: str


def planned_runs(options, given):
    """The PlannedRuns of train's parsed `options` (`given`: the names given on the command line).

    One run goes into --out (default runs/<run_name>); with --resume its saved config continues
    (resumed_config). --members N: the seeds --seed .. --seed+N-1 into --out (default runs), as
    member_runs says. A ValueError of one sentence when the options name no net (train_config),
    a RunError when the runs cannot be continued as asked.
    """
    out, resume, members = options["out"], options["resume"], options["members"]
    if members > 1 or out is None or not resume:      # the net of the options: to train, or naming the folders
        config = train_config(options)
        name = lambda seed: run_name(options["arch"], options["depth"], options["dataset"], seed,  # noqa: E731
                                     config.model)
    if members > 1:
        root = out or RUNS
        return PlannedRuns(*member_runs(config, members, root, name, resume, options, given), root)
    out = out or os.path.join(RUNS, name(options["seed"]))
    return PlannedRuns([resumed_config(out, options, given) if resume else config], [out], [resume], out)


def command_line(command, words, resume):
    """The `python cli.py COMMAND` line of `words`, the (flag, value) pairs of the options given (value None: a
    flag alone; a tuple: its items joined by commas), with --resume or without."""
    line = ["python", "cli.py", command]
    for flag, value in words:
        if value is not None:
            value = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        line += [flag] if value is None else [flag, value]
    return shlex.join(line + ["--resume"] * resume)


def interrupted(folders, command, words):
    """The line to print when training the runs in `folders` was interrupted (Ctrl-C): the command that continues
    them, or, before their first checkpoint, the one that starts them again (command_line of `words`)."""
    what = "run" if len(folders) == 1 else "runs"
    if any(os.path.exists(os.path.join(folder, CHECKPOINT)) for folder in folders):
        return f"Interrupted; continue the {what} with: {command_line(command, words, resume=True)}"
    return (f"Interrupted before the first checkpoint; start the {what} again with: "
            f"{command_line(command, words, resume=False)}")
