"""Files that are either complete or absent: atomic writes, JSON and JSON lines.

Everything the lab writes (run configs, checkpoints, metrics, figures, benchmark
numbers) goes through `atomic_write`: the content is written to a temporary file
in the target folder and moved into place with `os.replace`, which is atomic, so
a crash or Ctrl-C leaves the old file or the new one, never half of one.
"""
import errno
import json
import math
import os
import tempfile

import numpy

TMP_PREFIX = ".tmp-"        # atomic_write's temporary files; one that stays was cut off by a killed process

# The errors of a file system that refuses a write: full, over quota, read-only, forbidden, failing, too large.
# Others (a dropped connection while a download is written, say) are left as they are.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                            errno.EFBIG})


class WriteError(OSError):
    """A result could not be written where it belongs (a full disk, a read-only or forbidden folder).

    Raised by every writer here instead of the bare OSError of a refused write (STORAGE_ERRNOS), so
    that a caller (the CLI) can name the folder and what to do in one sentence; the file it was writing is
    left as it was before the write (atomic_write) and no temporary file stays behind.
    """

    def __init__(self, error, path):
        super().__init__(error.errno, error.strerror or str(error), os.fspath(path))

    @property
    def folder(self):
        return os.path.dirname(os.path.abspath(self.filename))

    def __str__(self):
        return f"cannot write {self.filename} ({self.strerror})"


def _storage_error(error, path):
    """`error` as a WriteError for `path` when the file system refused the write; else `error` itself."""
    if isinstance(error, OSError) and not isinstance(error, WriteError) and error.errno in STORAGE_ERRNOS:
        return WriteError(error, path)
    return error


def atomic_write(path, write):
    """Call write(tmp_path) on a temporary path next to `path`, then move it onto `path`.

    A write the file system refuses (ENOSPC and the like) raises WriteError naming `path`; the
    previous file at `path`, if any, is untouched and the temporary file is removed.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix=os.path.splitext(path)[1])
        os.close(fd)
    except OSError as e:
        raise _storage_error(e, path) from None
    try:
        write(tmp)
        os.chmod(tmp, 0o644)       # mkstemp makes files private; results are for reading
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        error = _storage_error(e, path)
        if error is e:
            raise
        raise error from None


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
    """Add one line (a single small write; readers see whole lines only once it lands).

    A write the file system refuses raises WriteError and cuts the file back to its old end,
    so no half line stays.
    """
    line = memoryview((json.dumps(jsonable(row), sort_keys=True) + "\n").encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                while line:                      # unbuffered: what did not land is known, and cut
                    line = line[os.write(fd, line):]
            except OSError:
                os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)
    except OSError as e:
        error = _storage_error(e, path)
        if error is e:
            raise
        raise error from None


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
