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
* a loss that is NaN or infinite stops the run with `Diverged`; the checkpoint of
  the last finished epoch is kept;
* one process writes a run folder at a time (lock.py); a folder that cannot be used
  as asked (not a run, a damaged file, fewer epochs than done) raises `RunError`,
  one sentence that names the file and what to do.
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
from models.files import TMP_PREFIX, append_jsonl, remove_temporaries, write_json, write_jsonl
from .checkpoint import load_checkpoint, save_checkpoint
from .lock import LOCK, RunError, run_lock

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
class Measurement:
    """A function of the model run at chosen epochs: fn(model, data, epoch) -> {name: number}."""
    name: str
    fn: callable
    epochs: object = None             # None: every epoch (0 included); else a collection of epochs

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


def train(config, run_dir, resume=False, measurements=(), progress=None, data=None):
    """Train as `config` says, writing into `run_dir`; returns the summary dict.

    data: the Dataset `config.data` describes, when the caller has it loaded already (many
    runs on one data set then share one copy); None loads it.
    The folder is locked while the run writes it: a second writer gets RunLocked.
    """
    if resume and not os.path.isdir(run_dir):       # refused before the lock would create the folder
        raise RunError(f"nothing to resume in {run_dir}: it has no {CHECKPOINT}")
    with run_lock(run_dir):
        return _train(config, run_dir, resume, measurements, progress or Progress(), data)


def _train(config, run_dir, resume, measurements, progress, data):
    """train() once it holds the lock."""
    from models.data import batches
    from models import objective

    paths = {name: os.path.join(run_dir, name) for name in (CONFIG, CHECKPOINT, METRICS, SUMMARY)}
    _check_folder(run_dir, resume)
    remove_temporaries(run_dir)
    history = []
    if resume:
        read_config(run_dir)                        # a damaged config.json is reported now, not by its next reader
        with _checkpoint_errors(run_dir):
            model_state, optimizer_state, meta = load_checkpoint(paths[CHECKPOINT])
            history = meta["history"]
            done = history[-1]["epoch"]
        if config.epochs < done:
            raise RunError(f"the run in {run_dir} has done {done} epochs; resume it with --epochs {done} or more")

    data, model = prepare(config, data)
    device = model.device
    train_x, train_y, test_x, test_y = (mg.to_device(a, device) for a in
                                        (data.train_x, data.train_y, data.test_x, data.test_y))
    optimizer = mg.optim.Adam(model.parameters(), lr=config.lr)
    if resume:
        with _checkpoint_errors(run_dir):
            model.load_state_dict(model_state)
            optimizer.load_state_dict(optimizer_state)
        write_jsonl(paths[METRICS], history)
    else:
        write_json(paths[CONFIG], dict(asdict(config), data_info=data.info))
        write_jsonl(paths[METRICS], [])

    def finish_epoch(row):
        history.append(row)
        save_checkpoint(paths[CHECKPOINT], model.state_dict(), optimizer.state_dict(), {"history": history})
        append_jsonl(paths[METRICS], row)
        progress.epoch(row)

    steps_per_epoch = -(-len(data.train_y) // config.batch_size)
    start = len(history)
    progress.start(config, start, steps_per_epoch)
    if start == 0:
        began = time.perf_counter()
        row = {"epoch": 0, **_evaluate(model, train_x, train_y, config.eval_batch_size, "train"),
               **_evaluate(model, test_x, test_y, config.eval_batch_size, "test")}
        row.update(_measure(measurements, model, data, 0))
        row["seconds"] = time.perf_counter() - began
        finish_epoch(row)
        start = 1
    for epoch in range(start, config.epochs + 1):
        began = time.perf_counter()
        model.train()
        order = batches(len(data.train_y), config.batch_size, numpy.random.default_rng([config.seed, 1, epoch]))
        total_loss, correct, seen = 0.0, 0, 0
        for step, index in enumerate(order):
            index = mg.to_device(index, device)
            x, y = mg.Tensor(train_x[index]), train_y[index]
            loss, logits = objective(model, x, y, penalty=config.penalty, return_logits=True)
            value = loss.item()
            if not numpy.isfinite(value):
                last = history[-1]["epoch"]
                write_json(paths[SUMMARY], {"status": "diverged", "epoch": epoch, "step": step, "loss": repr(value),
                                            "last_good_epoch": last})
                raise Diverged(f"training diverged at epoch {epoch}, step {step} (loss {value}); "
                               f"the checkpoint of epoch {last} is kept in {run_dir}")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += value * len(index)
            correct = correct + (logits.data.argmax(axis=1) == y).sum()   # stays on the device until the end
            seen += len(index)
            progress.step(epoch, step, value)
        row = {"epoch": epoch, "train_loss": total_loss / seen, "train_acc": int(mg.to_host(correct)) / seen,
               **_evaluate(model, test_x, test_y, config.eval_batch_size, "test")}
        row.update(_measure(measurements, model, data, epoch))
        row["seconds"] = time.perf_counter() - began
        finish_epoch(row)

    summary = {"status": "finished", "epochs": config.epochs, **{k: v for k, v in history[-1].items() if k != "epoch"},
               "seconds_total": sum(r["seconds"] for r in history)}
    write_json(paths[SUMMARY], summary)
    return summary


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
        return TrainConfig.from_dict(saved)
    except (OSError, ValueError, TypeError) as e:
        raise RunError(f"{CONFIG} in {run_dir} is damaged ({e}): restore it, or start the run again "
                       "in a new folder") from e


def prepare(config, data=None):
    """The data set (loaded unless given) and the freshly initialized model, on its device, of a TrainConfig."""
    from models.data import load
    from models import build
    if data is None:
        data = load(**config.data, dtype=numpy.dtype(config.dtype))
    shape = {"inputs": int(data.train_x.shape[1])} if config.model.get("arch", "mlp") == "mlp" else {}
    model = build(dict(config.model, classes=data.classes, **shape), seed=config.seed, dtype=config.dtype)
    return data, model.to(mg.get_device(config.device))


def load_run(run_dir, device=None, data_root=None, dtype=None):
    """(config, data, model with the checkpoint's weights, the checkpoint's epoch) of a run folder.

    device, data_root and dtype override the run's own (weights are cast to dtype).
    """
    paths = [os.path.join(run_dir, name) for name in (CONFIG, CHECKPOINT)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise RunError(f"{run_dir} is not a run folder: it has no {os.path.basename(missing[0])}")
    config = read_config(run_dir)
    if device is not None:
        config.device = device
    if data_root is not None:
        config.data["root"] = data_root
    if dtype is not None:
        config.dtype = dtype
    data, model = prepare(config)
    with _checkpoint_errors(run_dir):
        model_state, _, meta = load_checkpoint(paths[1])
        model.load_state_dict(model_state)
        epoch = meta["history"][-1]["epoch"]
    return config, data, model, epoch


def _evaluate(model, x, y, batch_size, prefix):
    """Cross-entropy and accuracy on a whole set, in eval mode and without recording a graph."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    with mg.no_grad():
        for start in range(0, len(y), batch_size):
            xb, yb = mg.Tensor(x[start:start + batch_size]), y[start:start + batch_size]
            logits = model(xb)
            total += mg.to_float(mg.functional.cross_entropy(logits, yb).data) * len(yb)
            correct += int(mg.to_host((logits.data.argmax(axis=1) == yb).sum()))
    model.train(was_training)
    return {f"{prefix}_loss": total / len(y), f"{prefix}_acc": correct / len(y)}


def _measure(measurements, model, data, epoch):
    out = {}
    for m in measurements:
        if m.due(epoch):
            out.update({f"{m.name}/{k}": v for k, v in m.fn(model, data, epoch).items()})
    return out
