"""Weight initializers, drawn on the host from a seeded NumPy Generator.

Drawing on the host and copying to the device is the only way CPU and GPU runs
start from identical weights: CuPy's random streams differ from NumPy's for the
same seed. Each function returns a NumPy array of the requested shape and dtype.

fan_in / fan_out of a weight (out, in) are in / out; of a conv kernel
(out, in, kh, kw) they are in·kh·kw / out·kh·kw.
"""
import numpy


def fans(shape):
    receptive = int(numpy.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def glorot_normal(rng, shape, dtype=numpy.float32):
    """N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010; the paper's initialization)."""
    fan_in, fan_out = fans(shape)
    return (rng.standard_normal(shape) * numpy.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def glorot_uniform(rng, shape, dtype=numpy.float32):
    """U(-a, a) with a = √(6 / (fan_in + fan_out)): the same variance as glorot_normal."""
    fan_in, fan_out = fans(shape)
    limit = numpy.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(rng, shape, dtype=numpy.float32):
    """N(0, 2 / fan_in) (He et al. 2015): keeps the second moment of ReLU activations constant."""
    fan_in, _ = fans(shape)
    return (rng.standard_normal(shape) * numpy.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(rng, shape, dtype=numpy.float32):
    """U(-a, a) with a = √(6 / fan_in): the same variance as he_normal."""
    fan_in, _ = fans(shape)
    limit = numpy.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape).astype(dtype)


def orthogonal(rng, shape, dtype=numpy.float32, gain=1.0):
    """A random matrix with orthonormal rows or columns (Saxe et al. 2013), uniform over the group.

    QR of a Gaussian matrix, with the signs of R's diagonal moved into Q so that
    the result is Haar-distributed (Mezzadri 2007), not biased by the QR convention.
    """
    rows, cols = shape[0], int(numpy.prod(shape[1:]))
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = numpy.linalg.qr(a)
    q *= numpy.sign(numpy.diag(r))
    q = q if rows >= cols else q.T
    return (gain * q.reshape(shape)).astype(dtype)


def zeros(rng, shape, dtype=numpy.float32):
    return numpy.zeros(shape, dtype)


INITIALIZERS = {f.__name__: f for f in (glorot_normal, glorot_uniform, he_normal, he_uniform, orthogonal, zeros)}


def get(name):
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; choose one of: {', '.join(INITIALIZERS)}") from None
