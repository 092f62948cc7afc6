"""A run's files, written so that a crash never leaves a half-written one.

    config.json      everything needed to rerun (written once, at the start)
    checkpoint.npz   model and optimizer state, epoch, and the metrics so far
    metrics.jsonl    one JSON line per epoch (rewritten from the checkpoint on resume)
    summary.json     the final numbers, once the run ends

Every file is written to a temporary name in the same folder and renamed over the
old one (`os.replace` is atomic), so a reader sees the old file or the new one.
The metrics history lives inside the checkpoint too: after a crash between the two
writes, resuming rebuilds metrics.jsonl from the checkpoint, never the reverse.
"""
import io
import json
import os
import tempfile

import numpy


def atomic_write(path, write):
    """Call write(file) on a temporary file next to `path`, then move it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, payload):
    atomic_write(path, lambda f: f.write((json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()))


def write_jsonl(path, rows):
    atomic_write(path, lambda f: f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def append_jsonl(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def save_checkpoint(path, model_state, optimizer_state, meta):
    """model_state: {name: array}; optimizer_state: Optimizer.state_dict(); meta: JSON-able dict."""
    arrays = {f"model/{k}": v for k, v in model_state.items()}
    for i, state in enumerate(optimizer_state["state"]):
        arrays.update({f"optim/{i}/{k}": v for k, v in state.items()})
    scalars = {k: v for k, v in optimizer_state.items() if k != "state"}
    header = json.dumps({"meta": meta, "optimizer": scalars, "n_state": len(optimizer_state["state"])})
    arrays["header"] = numpy.frombuffer(header.encode(), dtype=numpy.uint8)

    def write(f):
        buffer = io.BytesIO()
        numpy.savez(buffer, **arrays)
        f.write(buffer.getvalue())
    atomic_write(path, write)


def load_checkpoint(path):
    """The inverse of save_checkpoint: (model_state, optimizer_state, meta)."""
    with numpy.load(path, allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes().decode())
        model_state = {k[len("model/"):]: z[k] for k in z.files if k.startswith("model/")}
        state = [{} for _ in range(header["n_state"])]
        for k in z.files:
            if k.startswith("optim/"):
                _, i, name = k.split("/", 2)
                state[int(i)][name] = z[k]
    optimizer_state = dict(header["optimizer"], state=state)
    return model_state, optimizer_state, header["meta"]
