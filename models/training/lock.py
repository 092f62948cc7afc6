"""One writer per run folder: `<run_dir>/.lock` names the process that is writing it.

Two trainings writing one folder would interleave their epochs in metrics.jsonl and
overwrite each other's checkpoints, so train() holds this lock while it runs and a
second writer gets RunLocked (or waits: wait_unlocked). A lock left by a process that
is gone (same host, pid not alive) or one that cannot be read is taken over with a
RunWarning; a lock from another host is never taken over, since its pid cannot be
checked from here. So on a cluster of several hosts, a worker that dies mid-run leaves
a lock that only deleting the file releases (the message and warning name it).

The lock is re-entrant within one thread, so that a caller can hold it across reading a
run's state and calling train(), which takes it again.
"""
import contextlib
import datetime
import json
import os
import socket
import threading
import time
import warnings

LOCK = ".lock"
_HELD = {}      # lock path -> [thread, content, depth] of the locks this process holds


class RunError(RuntimeError):
    """A run folder that cannot be used as asked (one sentence for the user)."""


class RunLocked(RunError):
    """Another process is writing the run folder `run_dir`."""

    def __init__(self, message, run_dir):
        super().__init__(message)
        self.run_dir = run_dir


class RunWarning(UserWarning):
    """Something about a run folder the user should know that did not stop the run."""


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold `<run_dir>/.lock` (creating the folder) while the block runs; yields the lock's content."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(run_dir, LOCK))
    held = _HELD.get(path)
    if held is not None and held[0] == threading.get_ident():     # taken again by its holder: nest
        held[2] += 1
        try:
            yield held[1]
        finally:
            held[2] -= 1
        return
    mine = {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    _acquire(path, mine, run_dir)
    _HELD[path] = [threading.get_ident(), mine, 1]
    try:
        yield mine
    finally:
        del _HELD[path]
        if _owner(path, patience=0) == mine:        # never remove a lock another process took over
            os.remove(path)


def wait_unlocked(run_dir, poll=1.0):
    """Return once `<run_dir>/.lock` is released or stale (the next run_lock takes a stale one over).

    Waits as long as its owner lives, checked every `poll` seconds by the rules above: a lock
    from another host counts as alive until its file is deleted (one RunWarning says so).
    """
    path = os.path.join(run_dir, LOCK)
    warned = False
    while True:
        owner = _owner(path)
        if not isinstance(owner, dict) or _stale(owner):
            return
        if owner["host"] != socket.gethostname() and not warned:
            warnings.warn(f"waiting for {run_dir}, locked by pid {owner['pid']} on {owner['host']} (started "
                          f"{owner['started']}); if that process is gone, delete {path}", RunWarning)
            warned = True
        time.sleep(poll)


def _stale(owner):
    """Whether a lock's owner is known to be gone: a pid of this host that is not alive."""
    return owner["host"] == socket.gethostname() and not _alive(owner["pid"])


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
            elif not _stale(owner):
                raise RunLocked(f"{run_dir} is being written by pid {owner['pid']} on {owner['host']} (started "
                                f"{owner['started']}): wait for it to finish or stop that process, and if it is "
                                f"gone, delete {path}", run_dir) from None
            else:
                warnings.warn(f"took over the stale lock of {run_dir}: pid {owner['pid']} on {owner['host']} "
                              f"(started {owner['started']}) is gone", RunWarning)
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(mine))
        return
    raise RunLocked(f"{run_dir} is being locked and unlocked by other processes: try again when they are done", run_dir)


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
