"""The two things the data package raises: a clear error and a clear warning."""


class DataError(Exception):
    """Data cannot be loaded as asked; the message is one sentence that says why and what to do.

    Raised for missing or unreadable tarballs, failed downloads and unknown options, so that
    callers (the CLI) can print the message instead of a traceback from tarfile or pickle.
    """


class DataWarning(UserWarning):
    """Data was loaded, but not exactly as published (e.g. a tarball that is not the official release)."""
