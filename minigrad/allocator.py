"""Host memory for training: keep freed buffers in the process heap, as a long training run wants."""
import functools


@functools.cache
def tune_allocator():
    """Keep glibc from returning freed buffers to the OS after every step; once per process (later calls return
    the first call's answer). True when glibc took the settings.

    A training step frees and reallocates the same large buffers each iteration.
    With glibc's default thresholds those go back to the OS and come back as fresh
    zero pages, costing page faults (10-30% of a NumPy step here). Raising the mmap
    and trim thresholds keeps them in the heap. Harmless where glibc is absent.
    Training (models/training/loop.py) and the benchmarks call it, so both run with the same heap.
    """
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        big = 1 << 30
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 25) and libc.mallopt(M_TRIM_THRESHOLD, big))
    except (OSError, AttributeError):
        return False
