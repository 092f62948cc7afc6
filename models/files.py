"""Files that are either complete or absent: atomic writes, JSON and JSON lines.

Everything the lab writes (run configs, checkpoints, metrics, figures, benchmark
numbers) goes through `atomic_write`: the content is written to a temporary file
in the target folder and moved into place with `os.replace`, which is atomic, so
a crash or Ctrl-C leaves the old file or the new one, never half of one.
"""
import json
import math
import os
import tempfile

import numpy

TMP_PREFIX = ".tmp-"        # atomic_write's temporary files; one that stays was cut off by a killed process


def atomic_write(path, write):
    """Call write(tmp_path) on a temporary path next to `path`, then move it onto `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)       # mkstemp makes files private; results are for reading
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_temporaries(folder):
    """Delete the temporary files that writes cut off by a killed process left in `folder`.

    Only safe while no other process writes into `folder` (a run holds its lock).
    """
    for name in os.listdir(folder):
        if name.startswith(TMP_PREFIX):
            os.remove(os.path.join(folder, name))


def write_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


def write_json(path, payload, indent=2):
    write_text(path, json.dumps(jsonable(payload), indent=indent, sort_keys=True) + "\n")


def write_jsonl(path, rows):
    write_text(path, "".join(json.dumps(jsonable(r), sort_keys=True) + "\n" for r in rows))


def append_jsonl(path, row):
    """Add one line (a single small write; readers see whole lines only once it lands)."""
    with open(path, "a") as f:
        f.write(json.dumps(jsonable(row), sort_keys=True) + "\n")


def read_jsonl(path):
    """The rows of a JSON-lines file; a line that is not JSON raises ValueError naming the file and the line."""
    rows = []
    with open(path, "rb") as f:          # bytes: undecodable text is reported with its line too
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ValueError(f"{path}, line {number}, is not valid JSON ({e})") from None
    return rows


def jsonable(value, digits=None):
    """NumPy scalars and arrays as Python numbers and lists; NaN and inf as None (JSON has neither).

    `digits` rounds floats to that many significant digits (for compact figure data).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, digits) for v in value]
    if isinstance(value, numpy.ndarray):
        return jsonable(value.tolist(), digits)
    if isinstance(value, (bool, numpy.bool_)):
        return bool(value)
    if isinstance(value, (int, numpy.integer)):
        return int(value)
    if isinstance(value, (float, numpy.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}") if digits else x
    return value
