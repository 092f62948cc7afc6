"""Which code trained a run: the git commit of this checkout, recorded per stretch of epochs.

A sweep continues across machines and sessions, so one run may be trained by several
commits; its summary.json lists each stretch (first epoch, commit, machine), outside the
settings that name the run.
"""
import functools
import os
import subprocess


@functools.lru_cache(maxsize=1)
def commit():
    """The git commit of this code ("+" when its Python files differ from it), or None outside a git checkout.

    Asked once per process: the code a process runs is the code it imported."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=30)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "*.py"], cwd=here,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")
