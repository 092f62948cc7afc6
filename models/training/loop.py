"""One training loop for every experiment: Adam on minibatches, a run folder, resumable.

The paper trains with Adam (learning rate 5e-4), batch 500, for 100 epochs, and
reports training accuracy. This loop does exactly that for any model the
`models` package builds and any data set `models.data` loads:

* the seed fixes the initial weights and the minibatch order: epoch e visits the
  training set in the order drawn by `default_rng([seed, 1, e])`, which depends on
  nothing else, so a run resumed after epoch e makes the same steps as one that
  never stopped (and the same seed on the same device gives the same metrics);
* after every epoch the model, the optimizer and the metrics so far are written
  to one checkpoint atomically; `resume=True` continues from it;
* the training accuracy and loss of an epoch are running means over its
  minibatches, each measured in the forward pass of its own step (before that
  step's update), as Keras reported them in the paper's time; the training loss is
  the objective (cross-entropy plus any regularizer), the test loss cross-entropy
  alone, measured after the epoch in eval mode. Epoch 0 is the untrained model,
  evaluated (cross-entropy) on both sets;
* measurements (Hessian spectra, singularity meters, ...) can be attached and run
  at chosen epochs; their numbers go into that epoch's metrics row;
* an epoch's `seconds` (metrics row) is its wall-clock from its first step to its
  measurements' end, the checkpoint's write aside; the part spent in the attached
  measurements is timed apart and kept per epoch in the checkpoint (`seconds_measuring`),
  and summary.json adds up both sides: `seconds_training` (the steps and the loop's own
  train/test evaluation) and `seconds_measuring`; epochs trained before the split was
  recorded (an older run continued) count in `seconds_not_split`. No timing is ever part
  of config.json, so it never changes a run's identity (analysis/reproduction/spec.py);
* a loss that is NaN or infinite stops the run with `Diverged`; the checkpoint of
  the last finished epoch is kept (a step's loss is read once the next step is
  queued, so a GPU never idles waiting for it; the extra step is never saved);
* `train_ensemble` trains runs that differ only in their seed together, each into
  its own folder, as `train` would train each alone (models/ensemble.py);
* one process writes a run folder at a time (lock.py); a folder that cannot be used
  as asked (not a run, a damaged file, fewer epochs than done) raises `RunError`,
  one sentence that names the file and what to do; a run's folder is made only once
  the run starts, so a refused start (such a folder among an ensemble's, data that
  cannot be loaded) leaves no empty folder behind.
"""
import contextlib
import json
import os
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, fields

import numpy

import minigrad as mg
from minigrad.allocator import tune_allocator
from models.files import TMP_PREFIX, append_jsonl, remove_temporaries, write_json, write_jsonl
from .checkpoint import load_checkpoint, save_checkpoint
from .lock import LOCK, RunError, run_lock
from .provenance import commit
from .settings import check_config

CONFIG, CHECKPOINT, METRICS, SUMMARY = "config.json", "checkpoint.npz", "metrics.jsonl", "summary.json"


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and what was kept."""


@dataclass
class TrainConfig:
    """Everything a run needs; saved as config.json and enough to rerun it."""
    model: dict                       # arguments of models.build
    data: dict                        # arguments of data.load
    epochs: int = 100
    batch_size: int = 500
    lr: float = 5e-4
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    eval_batch_size: int = 1000
    penalty: bool = True              # include the model's regularizer (BiasReg) in the loss

    @classmethod
    def from_dict(cls, d):
        """The config of a saved config.json (which also holds `data_info`, what was loaded)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"data_info"})
        if unknown:
            raise RunError(f"this config.json was written by another version (unknown settings: {', '.join(unknown)})")
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class EpochHook:
    """A function of the model the loop runs at chosen epochs, its numbers recorded in that epoch's metrics row:
    fn(model, data, epoch) -> {name: number} (the hooks analysis/measurement_plan.py makes).

    batched(ensemble, data, epoch) -> one dict per member, or None: every member of an
    ensemble at once where that is possible; without it (or on None) each member is
    measured alone, as fn(ensemble.member(s), data, epoch)."""
    name: str
    fn: callable
    epochs: object = None             # None: every epoch (0 included); else a collection of epochs
    batched: callable = None

    def due(self, epoch):
        return self.epochs is None or epoch in self.epochs


class Progress:
    """What the loop reports while it runs; the CLI draws it with rich, tests ignore it."""

    def start(self, config, start_epoch, steps_per_epoch):
        pass

    def step(self, epoch, step, loss):
        pass

    def epoch(self, row):
        pass


def train(config, run_dir, resume=False, measurements=(), progress=None, data=None, device=None):
    """Train as `config` says, writing into `run_dir`; returns the summary dict.

    data: the Dataset `config.data` describes, when the caller has it loaded already (many
    runs on one data set then share one copy); None loads it.
    The folder is locked while the run writes it: a second writer gets RunLocked.
    A run is an ensemble of one (train_ensemble); its divergence raises Diverged.
    device: as train_ensemble's.
    """
    (outcome,) = train_ensemble([config], [run_dir], resume, measurements, progress, data, device=device)
    if isinstance(outcome, Diverged):
        raise outcome
    return outcome


def train_ensemble(configs, run_dirs, resume=False, measurements=(), progress=None, data=None, stop_at=None,
                   device=None):
    """Train runs that differ only in their seed together (models/ensemble.py), each into its own folder.

    Every member makes exactly the steps of its single run: the ensemble's loss is the sum
    of the members' losses and member s visits the data in its own seed's order. Each folder
    is an ordinary run folder, resumable alone or in another ensemble. resume: one bool for
    all runs or one per run; members resumed at different epochs train as separate ensembles.
    A member whose loss turns NaN or infinite stops there (its last checkpoint is kept) and
    the others go on. stop_at: a time.time() after which no epoch begins (a machine lent for
    minutes); the runs stop with their checkpoints, to be resumed. Returns one outcome per run:
    its summary dict, its Diverged error, or None when it stopped at stop_at.
    Progress reports an ensemble's steps and epochs once, as the members' mean.
    device: the Device the configs' device name is, when the caller has resolved it already (the CLI); None
    resolves the name here, once. Either way the Device is passed on and config.json keeps the name.
    """
    configs, run_dirs = list(configs), [os.fspath(d) for d in run_dirs]
    resumes = list(resume) if isinstance(resume, (list, tuple)) else [resume] * len(configs)
    _check_members(configs, run_dirs, resumes)
    device = mg.get_device(configs[0].device if device is None else device)   # once: the Device is passed on
    if device.kind != mg.device_kind(configs[0].device):
        raise ValueError(f"the runs' device is {configs[0].device!r}, not {device.name!r}")
    missing = [run_dir for run_dir in run_dirs if not os.path.isdir(run_dir)]
    for run_dir, again in zip(run_dirs, resumes):
        if again and run_dir in missing:            # refused before the lock would create the folder
            raise RunError(f"nothing to resume in {run_dir}: it has no {CHECKPOINT}")
    with contextlib.ExitStack() as locks:
        # A failed start leaves no empty folder behind: the folders that exist are locked and checked,
        # and the data loaded, before the lock makes the others.
        members = {}
        for config, run_dir, again in zip(configs, run_dirs, resumes):
            if run_dir not in missing:
                locks.enter_context(run_lock(run_dir))
                members[run_dir] = _Member(config, run_dir, again, device)
        if data is None:
            from models.data import load
            data = load(**configs[0].data, dtype=numpy.dtype(configs[0].dtype))
        _check_memory(configs, data, device)        # before any folder is made or a net allocated
        for config, run_dir, again in zip(configs, run_dirs, resumes):
            if run_dir in missing:
                locks.enter_context(run_lock(run_dir))
                members[run_dir] = _Member(config, run_dir, again, device)
        return _train([members[run_dir] for run_dir in run_dirs], measurements, progress or Progress(), data,
                      stop_at)


def _check_memory(configs, data, device):
    """RunError when the ensemble of `configs` on `data` would not fit in its device's memory (models/memory.py)."""
    from models.memory import TooLarge, check_fits
    config = configs[0]
    inputs = data.train_x.shape[1] if data.train_x.ndim == 2 else tuple(data.train_x.shape[1:])
    try:
        check_fits(config.model, inputs, data.classes, min(config.batch_size, len(data.train_y)), config.dtype,
                   device, adam=True, members=len(configs))
    except TooLarge as e:
        raise RunError(str(e)) from None
    except (TypeError, ValueError):    # a config the estimate cannot read: building the net says what is wrong
        pass


def _check_members(configs, run_dirs, resumes):
    if not configs or len(configs) != len(run_dirs) or len(resumes) != len(configs):
        raise ValueError("train_ensemble needs one run folder (and one resume flag) per config, and at least one")
    if len({os.path.abspath(d) for d in run_dirs}) != len(run_dirs):
        raise ValueError("the members of an ensemble need distinct run folders")
    first = dict(asdict(configs[0]), seed=None)
    if any(dict(asdict(c), seed=None) != first for c in configs):
        raise ValueError("the members of an ensemble may differ only in their seed")


class _Member:
    """One run of an ensemble: its folder's files, its metrics so far, and the state it resumes from."""

    def __init__(self, config, run_dir, resume, device):
        self.config, self.run_dir, self.device = config, run_dir, device      # device: the Device, resolved already
        self.paths = {name: os.path.join(run_dir, name) for name in (CONFIG, CHECKPOINT, METRICS, SUMMARY)}
        _check_folder(run_dir, resume)
        remove_temporaries(run_dir)
        self.history, self.saved, self.outcome, self.stretches = [], None, None, []
        self.measuring = []                         # per epoch: seconds in the measurements; None: not recorded
        if resume:
            read_config(run_dir)                    # a damaged config.json is reported now, not by its next reader
            with _checkpoint_errors(run_dir):
                model_state, optimizer_state, meta = load_checkpoint(self.paths[CHECKPOINT])
                self.history = meta["history"]
                self.stretches = meta.get("stretches", [])
                self.measuring = _measuring_seconds(meta, len(self.history))
                done = self.history[-1]["epoch"]
            if config.epochs < done:
                raise RunError(f"the run in {run_dir} has done {done} epochs; resume it with --epochs {done} or more")
            self.saved = (model_state, optimizer_state)

    def begin(self, data):
        """Write the folder's first files (a fresh run) or rewrite its metrics from the checkpoint (a resumed one)."""
        if self.saved is None:
            write_json(self.paths[CONFIG], dict(asdict(self.config), data_info=data.info))
        write_jsonl(self.paths[METRICS], self.history)
        if len(self.history) <= self.config.epochs:          # epochs left to train: a stretch begins
            self.stretches.append({"from_epoch": len(self.history), "commit": commit(),
                                   "machine": mg.describe(self.device)})

    def finish_epoch(self, row, model_state, optimizer_state, measuring):
        self.history.append(row)
        self.measuring.append(measuring)
        save_checkpoint(self.paths[CHECKPOINT], model_state, optimizer_state,
                        {"history": self.history, "stretches": self.stretches, "seconds_measuring": self.measuring})
        append_jsonl(self.paths[METRICS], row)

    def diverged(self, epoch, step, value):
        last = self.history[-1]["epoch"]
        write_json(self.paths[SUMMARY], {"status": "diverged", "epoch": epoch, "step": step, "loss": repr(value),
                                         "last_good_epoch": last, "machine": mg.describe(self.device),
                                         "stretches": self.stretches})
        self.outcome = Diverged(f"training diverged at epoch {epoch}, step {step} (loss {value}); "
                                f"the checkpoint of epoch {last} is kept in {self.run_dir}")

    def finish(self):
        history = self.history
        self.outcome = {"status": "finished", "epochs": self.config.epochs,
                        **{k: v for k, v in history[-1].items() if k != "epoch"},
                        "seconds_total": sum(r["seconds"] for r in history), **time_split(history, self.measuring),
                        "machine": mg.describe(self.device), "stretches": self.stretches}
        write_json(self.paths[SUMMARY], self.outcome)


def _measuring_seconds(meta, epochs):
    """A checkpoint's seconds spent measuring, one per epoch of its history: None for the epochs of a checkpoint
    written before they were recorded (an older run), so that its summary says what is not known."""
    kept = [v if isinstance(v, (int, float)) else None for v in meta.get("seconds_measuring") or []][:epochs]
    return [None] * (epochs - len(kept)) + kept


def time_split(history, measuring):
    """summary.json's account of where a run's `seconds_total` went: {seconds_training, seconds_measuring}, over
    the epochs that recorded the split, and seconds_not_split (only where some did not: epochs of an older run)."""
    split = [(row["seconds"], m) for row, m in zip(history, measuring) if m is not None]
    out = {"seconds_training": sum(s - m for s, m in split), "seconds_measuring": sum(m for _, m in split)}
    if len(split) < len(history):
        out["seconds_not_split"] = sum(row["seconds"] for row, m in zip(history, measuring) if m is None)
    return out


def _train(members, measurements, progress, data, stop_at):
    """train_ensemble() once it holds the locks, has checked the folders and has the data."""
    tune_allocator()            # the heap the benchmarks time with: freed step buffers stay in the process
    for member in members:
        member.begin(data)
    arrays = tuple(mg.to_device(a, members[0].device)
                   for a in (data.train_x, data.train_y, data.test_x, data.test_y))
    starts = sorted({len(m.history) for m in members})
    for start in starts:
        _train_together([m for m in members if len(m.history) == start], data, arrays, measurements, progress,
                        stop_at)
    return [m.outcome for m in members]


def _ensemble(members, data):
    """The ensemble of `members` (models/ensemble.py) with its Adam, both restored from the members' saved states."""
    from models.ensemble import ensemble
    config = members[0].config
    model = ensemble([build_config(m.config, data) for m in members], members[0].device)
    optimizer = mg.optim.Adam(model.parameters(), lr=config.lr)
    if members[0].saved is not None:
        with _checkpoint_errors(members[0].run_dir):
            for s, member in enumerate(members):
                model.member(s).load_state_dict(member.saved[0])
            optimizer.load_state_dict(model.joint_optimizer([m.saved[1] for m in members]))
    return model, optimizer


def _train_together(members, data, arrays, measurements, progress, stop_at):
    """Train members at the same epoch as one ensemble until each has finished or diverged."""
    from models.data import batches
    from models import objective
    config = members[0].config
    train_x, train_y, test_x, test_y = arrays
    model, optimizer = _ensemble(members, data)
    for member in members:
        member.saved = None

    def finish_epoch(rows, began):
        measuring = time.perf_counter()
        for row, measured in zip(rows, _measure(measurements, model, data, rows[0]["epoch"])):
            row.update(measured)
        ended = time.perf_counter()
        # each member's share of the shared work, the measurements' part too (also when they ran member by member)
        seconds, measuring = (ended - began) / len(members), (ended - measuring) / len(members)
        optimizer_state = optimizer.state_dict()
        for s, (member, row) in enumerate(zip(members, rows)):
            row["seconds"] = seconds
            member.finish_epoch(row, model.member(s).state_dict(), model.member_optimizer(optimizer_state, s),
                                measuring)
        numbers = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k != "epoch"]
        progress.epoch({"epoch": rows[0]["epoch"], **{k: sum(row[k] for row in rows) / len(rows) for k in numbers}})

    steps_per_epoch = -(-len(data.train_y) // config.batch_size)
    start = len(members[0].history)
    progress.start(config, start, steps_per_epoch)
    if start == 0:
        began = time.perf_counter()
        rows = [{"epoch": 0, **a, **b} for a, b in zip(_evaluate(model, train_x, train_y, config.eval_batch_size, "train"),
                                                      _evaluate(model, test_x, test_y, config.eval_batch_size, "test"))]
        finish_epoch(rows, began)
        start = 1
    for epoch in range(start, config.epochs + 1):
        if stop_at is not None and time.time() >= stop_at:
            return
        began = time.perf_counter()
        model.train()
        # every member's order of the epoch, its minibatches end to end, sent to the device once: a step slices it
        order = mg.to_device(numpy.stack([numpy.concatenate(
            list(batches(len(data.train_y), config.batch_size, numpy.random.default_rng([m.config.seed, 1, epoch])))
            or [numpy.empty(0, numpy.int64)]) for m in members]), model.device)
        total_loss, correct, seen = numpy.zeros(len(members)), 0, 0
        pending = None     # a step's losses, read once the next step is queued: the device never waits for the host
        for step in range(steps_per_epoch + 1):
            current = None
            if step < steps_per_epoch:
                index = order[:, step * config.batch_size:(step + 1) * config.batch_size]
                x, y = mg.Tensor(train_x[index]), train_y[index]
                losses, logits = objective(model, x, y, penalty=config.penalty, return_logits=True)
                optimizer.zero_grad()
                losses.sum().backward()
                optimizer.step()
                correct = correct + (logits.data.argmax(axis=-1) == y).sum(axis=-1)   # stays on the device until the end
                current = (step, losses.data, index.shape[1])
            if pending is not None:
                done, values, count = pending
                values = mg.to_host(values).astype(float)
                total_loss += values * count
                seen += count
                finite = numpy.isfinite(values)
                if not finite.all():       # members are independent: the others' steps are untouched by a NaN
                    for member, value in zip(members, values):
                        if not numpy.isfinite(value):
                            member.diverged(epoch, done, value)
                    if not finite.any():
                        return
                    model, optimizer, members, kept = _without(model, optimizer, members, data, finite)
                    order, total_loss, correct = (_take(order, kept, model.device), total_loss[kept],
                                                  _take(correct, kept, model.device))
                    current = current and (current[0], _take(current[1], kept, model.device), current[2])
                progress.step(epoch, done, float(values[finite].mean()))
            pending = current
        correct = mg.to_host(correct)
        rows = [{"epoch": epoch, "train_loss": float(total_loss[s] / seen), "train_acc": int(correct[s]) / seen, **test}
                for s, test in enumerate(_evaluate(model, test_x, test_y, config.eval_batch_size, "test"))]
        finish_epoch(rows, began)
    for member in members:
        member.finish()


def _without(model, optimizer, members, data, keep):
    """The ensemble of the members marked in `keep`, in the state they are in now; and their indices."""
    kept = [s for s in range(len(members)) if keep[s]]
    optimizer_state = optimizer.state_dict()
    for s in kept:
        members[s].saved = (model.member(s).state_dict(), model.member_optimizer(optimizer_state, s))
    members = [members[s] for s in kept]
    model, optimizer = _ensemble(members, data)
    for member in members:
        member.saved = None
    return model, optimizer, members, kept


def _take(array, kept, device):
    """The rows `kept` of a per-member array on `device` (0, the empty count, stays 0)."""
    if isinstance(array, int):
        return array
    return array[mg.to_device(numpy.asarray(kept), device)]


def _check_folder(run_dir, resume):
    """Refuse a folder that does not fit the request (the caller holds its lock).

    A fresh run may start in a folder that is empty or holds only what a run that never
    finished its epoch 0 leaves (config.json, metrics.jsonl, temporary files): that run
    is started again, as the reproduction's runner expects.
    """
    has_checkpoint = os.path.exists(os.path.join(run_dir, CHECKPOINT))
    if resume and not has_checkpoint:
        raise RunError(f"nothing to resume in {run_dir}: it has no {CHECKPOINT}")
    if not resume and has_checkpoint:
        raise RunError(f"{run_dir} already holds a run; continue it with --resume or choose another --out")
    if not resume:
        foreign = [name for name in os.listdir(run_dir)
                   if name not in (LOCK, CONFIG, METRICS) and not name.startswith(TMP_PREFIX)]
        if foreign:
            raise RunError(f"{run_dir} is not empty and holds no run: choose a new or empty --out")


@contextlib.contextmanager
def _checkpoint_errors(run_dir):
    """Turn whatever a damaged checkpoint.npz makes numpy.load, json or load_state_dict raise into a RunError."""
    try:
        yield
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile,
            pickle.UnpicklingError) as e:
        raise RunError(f"{CHECKPOINT} in {run_dir} is damaged or does not fit this run ({type(e).__name__}: {e}); "
                       "the epochs it held cannot be recovered from it: restore the file, or start the run again "
                       "in a new folder") from e


def read_config(run_dir):
    """The TrainConfig of a run folder's config.json; RunError naming the file when it is missing or damaged."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.exists(path):
        raise RunError(f"{run_dir} is not a run folder: it has no {CONFIG}")
    try:
        with open(path) as f:
            saved = json.load(f)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
        config = TrainConfig.from_dict(saved)
        check_config(config)                # a field of the wrong type or range, named before anything is built
        return config
    except (OSError, ValueError, TypeError) as e:
        raise RunError(f"{CONFIG} in {run_dir} is damaged ({e}): restore it, or start the run again "
                       "in a new folder") from e


def build_config(config, data):
    """The whole models.build dict of a TrainConfig on `data`: its model config (config.model) with the data's
    classes and, for an MLP, its inputs, and the run's seed and dtype."""
    shape = {"inputs": int(data.train_x.shape[1])} if config.model.get("arch", "mlp") == "mlp" else {}
    return dict(config.model, classes=data.classes, **shape, seed=config.seed, dtype=config.dtype)


def prepare(config, data=None, device=None):
    """The data set (loaded unless given) and the freshly initialized model, on its device, of a TrainConfig.

    device: where the model goes instead of config.device, a Device or a name; either is resolved here, once."""
    from models.data import load
    from models import build
    device = mg.get_device(config.device if device is None else device)
    if data is None:
        data = load(**config.data, dtype=numpy.dtype(config.dtype))
    return data, build(build_config(config, data)).to(device)


def load_run(run_dir, device=None, data_root=None, dtype=None):
    """(config, data, model with the checkpoint's weights, the checkpoint's epoch) of a run folder.

    device, data_root and dtype override the run's own (weights are cast to dtype); device is a Device or a name
    (the config returned holds a name).
    """
    paths = [os.path.join(run_dir, name) for name in (CONFIG, CHECKPOINT)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise RunError(f"{run_dir} is not a run folder: it has no {os.path.basename(missing[0])}")
    config = read_config(run_dir)
    if device is not None:
        config.device = device.name if isinstance(device, mg.Device) else device
    if data_root is not None:
        config.data["root"] = data_root
    if dtype is not None:
        config.dtype = dtype
    data, model = prepare(config, device=device)
    with _checkpoint_errors(run_dir):
        model_state, _, meta = load_checkpoint(paths[1])
        model.load_state_dict(model_state)
        epoch = meta["history"][-1]["epoch"]
    return config, data, model, epoch


def _evaluate(model, x, y, batch_size, prefix):
    """Each member's cross-entropy and accuracy on a whole set, in eval mode and without recording a graph."""
    was_training = model.training
    model.eval()
    total, correct = numpy.zeros(model.size), 0
    with mg.no_grad():
        for start in range(0, len(y), batch_size):
            xb, yb = mg.Tensor(x[start:start + batch_size]), y[start:start + batch_size]
            logits = model(xb)
            labels = mg.get_array_module(yb).broadcast_to(yb, logits.shape[:-1])
            total += mg.to_host(mg.functional.cross_entropy(logits, labels).data).astype(float) * len(yb)
            correct = correct + mg.to_host((logits.data.argmax(axis=-1) == labels).sum(axis=-1))
    model.train(was_training)
    return [{f"{prefix}_loss": float(total[s] / len(y)), f"{prefix}_acc": int(correct[s]) / len(y)} for s in range(model.size)]


def _measure(measurements, model, data, epoch):
    """Each member's numbers from the measurements due at `epoch` (EpochHook: batched where it can)."""
    rows = [{} for _ in range(model.size)]
    for m in measurements:
        if m.due(epoch):
            results = m.batched(model, data, epoch) if m.batched is not None and model.size > 1 else None
            if results is None:
                results = [m.fn(model.member(s), data, epoch) for s in range(model.size)]
            for row, result in zip(rows, results):
                row.update({f"{m.name}/{k}": v for k, v in result.items()})
    return rows
