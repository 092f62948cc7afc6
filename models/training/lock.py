"""One writer per run folder: `<run_dir>/.lock` names the process that is writing it.

Two trainings writing one folder would interleave their epochs in metrics.jsonl and
overwrite each other's checkpoints, so train() holds this lock while it runs and a
second writer gets RunLocked. A lock left by a process that is gone (same host, pid
not alive) or one that cannot be read is taken over with a RunWarning; a lock from
another host is never taken over, since its pid cannot be checked from here.
"""
import contextlib
import datetime
import json
import os
import socket
import time
import warnings

LOCK = ".lock"


class RunError(RuntimeError):
    """A run folder that cannot be used as asked (one sentence for the user)."""


class RunLocked(RunError):
    """Another process is writing the run folder."""


class RunWarning(UserWarning):
    """Something about a run folder the user should know that did not stop the run."""


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold `<run_dir>/.lock` (creating the folder) while the block runs; yields the lock's content."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK)
    mine = {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    _acquire(path, mine, run_dir)
    try:
        yield mine
    finally:
        if _owner(path, patience=0) == mine:        # never remove a lock another process took over
            os.remove(path)


def _acquire(path, mine, run_dir):
    """Create the lock file exclusively; take over a stale one; RunLocked if a live process holds it."""
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner == "gone":                     # released between our two looks: try again
                continue
            if owner is None:
                warnings.warn(f"took over the unreadable lock file {path}", RunWarning)
            elif owner["host"] != socket.gethostname() or _alive(owner["pid"]):
                raise RunLocked(f"{run_dir} is being written by pid {owner['pid']} on {owner['host']} (started "
                                f"{owner['started']}): wait for it to finish or stop that process, and if it is "
                                f"gone, delete {path}") from None
            else:
                warnings.warn(f"took over the stale lock of {run_dir}: pid {owner['pid']} on {owner['host']} "
                              f"(started {owner['started']}) is gone", RunWarning)
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(mine))
        return
    raise RunLocked(f"{run_dir} is being locked and unlocked by other processes: try again when they are done")


def _owner(path, patience=1.0):
    """The lock's content; "gone" if the file is missing; None if it stays unreadable for `patience` seconds.

    The owner writes its content right after creating the file, so an empty or partial
    file is given a moment before it counts as damaged.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            with open(path) as f:
                owner = json.load(f)
            if isinstance(owner, dict) and isinstance(owner.get("pid"), int) and {"host", "started"} <= set(owner):
                return owner
        except FileNotFoundError:
            return "gone"
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _alive(pid):
    """Whether a process of this host has this pid (signal 0 only checks)."""
    if os.name == "nt":                             # there os.kill would terminate it: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                         # alive, owned by another user
        return True
    return True
