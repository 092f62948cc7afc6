"""Output folders and files checked before any work starts: printable names, writable places.

The CLI turns a FolderError into its one-sentence error; the checks need no click, so a test calls them as they are.
"""
import errno
import os
import tempfile
import unicodedata


class FolderError(ValueError):
    """A folder or file the lab was asked to write that it cannot (one sentence for the user)."""


def printable(path, flag="--out"):
    """Refuse a path with a control character (a newline, a tab, an escape): such a folder is made as asked,
    but every line that names it, and every shell that is given it, is broken by it."""
    bad = next((c for c in os.fspath(path) if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise FolderError(f"{flag} {os.fspath(path)!r} holds the control character {bad!r}; "
                          f"choose another {flag} of printable characters")
    return path


def writable(folder, flag="--out", make=True):
    """Make `folder` and show it can be written, before any work starts (FolderError if not).

    make=False: leave a missing folder to be made when the work starts (a run's folder, so that a
    refused start leaves none), and show that the nearest folder above it can be written.
    """
    printable(folder, flag)
    try:
        probe = folder
        if make:
            os.makedirs(folder, exist_ok=True)
        else:
            probe = os.path.abspath(folder)
            while not os.path.exists(probe):        # ends at the root at the latest
                probe = os.path.dirname(probe)
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise FolderError(f"cannot write to {folder} ({e.strerror or e}); choose another {flag}")
    return folder


def refused(error, flag="--out"):
    """The sentence for a result the file system refused to take (models.files.WriteError)."""
    todo = "free space there or choose another" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "choose another"
    return f"cannot write to {error.folder} ({error.strerror}); {todo} {flag}"
