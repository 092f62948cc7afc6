"""Argument checks every model constructor shares."""
import numpy


def float_dtype(dtype):
    """numpy.float32 or numpy.float64 as a dtype; anything else is a ValueError in one sentence."""
    try:
        dtype = numpy.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in ("float32", "float64"):
        raise ValueError("dtype must be float32 or float64.")
    return dtype


def seeded(rng):
    """(the seed to record, a Generator): an int seed is recorded so config.json can rebuild the model."""
    seed = int(rng) if isinstance(rng, (int, numpy.integer)) and not isinstance(rng, bool) else None
    return seed, numpy.random.default_rng(rng)
