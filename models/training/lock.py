"""One writer per run folder: `<run_dir>/.lock` names the process that is writing it.

Two trainings writing one folder would interleave their epochs in metrics.jsonl and
overwrite each other's checkpoints, so train() holds this lock while it runs and a
second writer gets RunLocked (or waits: wait_unlocked). A lock left by a process that
is gone, or one that cannot be read, is taken over with a RunWarning. A lock from another
host is never taken over, since its pid cannot be checked from here. So on a cluster of
several hosts, a worker that dies mid-run leaves a lock that only deleting the file
releases (the message and warning name it).

A pid alone does not say whether its writer is gone: pids are reused, and in a container
the trainer is often pid 1, which is alive in the next container too. So the lock also
records its owner's start time (on Linux, field 22 of /proc/PID/stat: clock ticks since
boot), and a lock of this host counts as gone when its pid is not alive or that pid's
process started at another time than the recorded one. Where the start time cannot be
read (no /proc), and for a lock without one (written by an older version), a live pid
counts as the writer: it cannot be told from a reused one, so a wait on it is bounded
(wait_unlocked's `timeout`) and every message says to delete the file if no process is
writing it.

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
    process_start = _process_start(os.getpid())
    if process_start is not None:
        mine["process_start"] = process_start
    _acquire(path, mine, run_dir)
    _HELD[path] = [threading.get_ident(), mine, 1]
    try:
        yield mine
    finally:
        del _HELD[path]
        if _owner(path, patience=0) == mine:        # never remove a lock another process took over
            os.remove(path)


WAIT_LIMIT = 24 * 3600      # wait_unlocked's default bound: longer than one training of the paper's nets


def wait_unlocked(run_dir, poll=1.0, timeout=WAIT_LIMIT):
    """Return once `<run_dir>/.lock` is released, stale or taken by another owner (the next run_lock takes
    a stale one over, or refuses the new owner, who is then waited for in turn).

    Checked every `poll` seconds by the rules above. One RunWarning says whom it waits for; when the
    same owner still holds the lock after `timeout` seconds it gives up with RunLocked, since a lock
    from another host, or from a reused pid without a recorded start time, is released only by
    deleting the file.
    """
    path = os.path.join(run_dir, LOCK)
    first = _owner(path)
    if not isinstance(first, dict) or _gone(first):
        return
    warnings.warn(f"waiting for {run_dir}: {_who(first)} is writing it; giving up after {_duration(timeout)} "
                  f"(if no process is writing it, delete {path})", RunWarning)
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(max(min(poll, deadline - time.monotonic()), 0))
        owner = _owner(path)
        if owner != first or _gone(owner):
            return
        if time.monotonic() >= deadline:
            raise RunLocked(f"gave up waiting for {run_dir} after {_duration(timeout)}: {_who(owner)} still holds "
                            f"its lock; if no process is writing it, delete {path} and try again", run_dir)


def _gone(owner):
    """Why a lock's owner is known to be gone (a pid of this host that is not alive, or that now belongs to a
    process started at another time than the recorded one); None when it may be writing."""
    if owner["host"] != socket.gethostname():
        return None
    if not _alive(owner["pid"]):
        return "is gone"
    recorded, now = owner.get("process_start"), _process_start(owner["pid"])
    if isinstance(recorded, int) and now is not None and now != recorded:
        return f"is gone (pid {owner['pid']} now belongs to a process started at another time)"
    return None


def _who(owner):
    """A lock's owner as messages name it."""
    return f"pid {owner['pid']} on {owner['host']} (started {owner['started']})"


def _duration(seconds):
    """A wait's length for a message: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def _acquire(path, mine, run_dir):
    """Create the lock file exclusively; take over a stale one; RunLocked if a live process holds it."""
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner == "gone":                     # released between our two looks: try again
                continue
            gone = owner is not None and _gone(owner)
            if owner is None:
                warnings.warn(f"took over the unreadable lock file {path}", RunWarning)
            elif not gone:
                raise RunLocked(f"{run_dir} is being written by {_who(owner)}: wait for it to finish or stop that "
                                f"process, and if it is gone, delete {path}", run_dir) from None
            else:
                warnings.warn(f"took over the stale lock of {run_dir}: {_who(owner)} {gone}", RunWarning)
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


def _process_start(pid):
    """When process `pid` of this host started, in clock ticks since boot (field 22 of /proc/PID/stat);
    None where that cannot be read (no /proc, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])    # the fields after the name start at field 3
    except (OSError, ValueError, IndexError):
        return None
