"""A run's files, written so that a crash never leaves a half-written one.

    config.json      everything needed to rerun (written once, at the start)
    checkpoint.npz   model and optimizer state, epoch, and the metrics so far
    metrics.jsonl    one JSON line per epoch (rewritten from the checkpoint on resume)
    summary.json     the final numbers, once the run ends

Every file is written atomically (models/files.py), so a reader sees the old file
or the new one, never half of one.
The metrics history lives inside the checkpoint too: after a crash between the two
writes, resuming rebuilds metrics.jsonl from the checkpoint, never the reverse.
"""
import json

import numpy

from models.files import atomic_write


def save_checkpoint(path, model_state, optimizer_state, meta):
    """model_state: {name: array}; optimizer_state: Optimizer.state_dict(); meta: JSON-able dict."""
    arrays = {f"model/{k}": v for k, v in model_state.items()}
    for i, state in enumerate(optimizer_state["state"]):
        arrays.update({f"optim/{i}/{k}": v for k, v in state.items()})
    scalars = {k: v for k, v in optimizer_state.items() if k != "state"}
    header = json.dumps({"meta": meta, "optimizer": scalars, "n_state": len(optimizer_state["state"])})
    arrays["header"] = numpy.frombuffer(header.encode(), dtype=numpy.uint8)
    atomic_write(path, lambda tmp: numpy.savez(tmp, **arrays))


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
