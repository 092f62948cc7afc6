"""Every primitive op of minigrad/ops, as one table.

Each row of CASES is an op applied to inputs of given shapes and domains. For
every row and every device (cpu, strict, cuda when present) the tests assert:

* forward      the value equals a NumPy reference computed independently on the host,
               with the expected shape, dtype float64 and device;
* first order  check_grad: reverse mode, forward mode (tangents) and central finite
               differences agree; the reverse gradients also have their input's shape
               (broadcast inputs are summed back), dtype and device;
* second order check_second_order (rev-rev and fwd-rev against finite differences of
               the gradient). Every op here is twice differentiable away from kinks and
               ties: relu, abs, max and maximum get inputs kept away from them, and their
               second derivative is zero almost everywhere (asserted explicitly below);
* float32      the same row on float32 inputs: float32 output, float32 reverse gradients,
               float32 tangents and float32 second-order gradients (no silent upcast
               through Python-number constants), values close to the float64 reference.

Constants that are not differentiated (where's condition, integer labels, index
arrays) are made on the host and moved to the test's device explicitly.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import check_grad, check_second_order


# --- inputs --------------------------------------------------------------------------------

def draw(rng, shape, domain):
    """A host float64 array of `shape` from a domain chosen to keep finite differences valid."""
    if domain == "any":
        a = rng.standard_normal(shape)
    elif domain == "pos":          # log, fractional and negative powers
        a = rng.uniform(0.5, 2.0, shape)
    elif domain == "nokink":       # |x| >= 0.2: relu, abs, divisors, integer powers of negatives
        a = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
    elif domain == "grid":         # multiples of 0.5 ...
        a = rng.integers(-6, 7, shape) * 0.5
    elif domain == "offgrid":      # ... and values 0.25 away from every one of them: no ties in maximum
        a = rng.integers(-6, 7, shape) * 0.5 + 0.25
    elif domain == "distinct":     # all values distinct, 0.25 apart: no ties in max
        n = int(np.prod(shape))
        a = rng.permutation(n).reshape(shape) * 0.25 - n / 8
    else:
        raise ValueError(domain)
    return np.asarray(a, dtype=np.float64)


def on(device, value):
    """Move the arrays inside a constant (array, tuple of index parts, dict) to `device`."""
    if isinstance(value, np.ndarray):
        return mg.to_device(value, device)
    if isinstance(value, tuple):
        return tuple(on(device, v) for v in value)
    if isinstance(value, dict):
        return {k: on(device, v) for k, v in value.items()}
    return value


class Case:
    """One row: f(c, *tensors) in minigrad, ref(c, *arrays) in NumPy, inputs [(shape, domain)], constants c."""

    def __init__(self, name, f, ref, inputs, consts=None):
        self.name, self.f, self.ref, self.inputs = name, f, ref, inputs
        self.consts = consts or (lambda rng: {})

    def make(self, device, dtype=np.float64, seed=0):
        rng = np.random.default_rng(seed)
        arrays = [draw(rng, shape, domain) for shape, domain in self.inputs]
        c_host = self.consts(rng)
        tensors = [mg.tensor(a.astype(dtype), device=device) for a in arrays]
        return arrays, c_host, tensors, on(device, c_host)


CASES = []


def case(name, f, ref, inputs, consts=None):
    CASES.append(pytest.param(Case(name, f, ref, inputs, consts), id=name))


def sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- elementwise, unary ----------------------------------------------------------------------
S = (3, 4)
for name, f, ref, domain in [
    ("neg", mg.neg, np.negative, "any"),
    ("neg_operator", lambda x: -x, np.negative, "any"),
    ("exp", mg.exp, np.exp, "any"),
    ("log", mg.log, np.log, "pos"),
    ("tanh", mg.tanh, np.tanh, "any"),
    ("sigmoid", mg.sigmoid, sigmoid_ref, "any"),
    ("relu", mg.relu, lambda x: np.maximum(x, 0.0), "nokink"),
    ("abs", mg.abs, np.abs, "nokink"),
    ("exp_method", lambda x: x.exp(), np.exp, "any"),
    ("log_method", lambda x: x.log(), np.log, "pos"),
    ("tanh_method", lambda x: x.tanh(), np.tanh, "any"),
    ("sigmoid_method", lambda x: x.sigmoid(), sigmoid_ref, "any"),
    ("relu_method", lambda x: x.relu(), lambda x: np.maximum(x, 0.0), "nokink"),
    ("abs_method", lambda x: x.abs(), np.abs, "nokink"),
    ("cast_same_dtype", lambda x: mg.cast(x, x.dtype), lambda x: x, "any"),
]:
    case(name, (lambda f: lambda c, x: f(x))(f), (lambda ref: lambda c, x: ref(x))(ref), [(S, domain)])

# power by a constant: integer exponents also on negative inputs, fractional/negative ones on positive inputs
for p in [2, 3, 1, 0, -1, -2, 0.5, -0.5, 1.5, 2.5, -1.5]:
    case(f"power_{p}_pos", lambda c, x, p=p: x ** p, lambda c, x, p=p: x ** p, [(S, "pos")])
for p in [2, 3, -1, -2]:
    case(f"power_{p}_nokink", lambda c, x, p=p: mg.power(x, p), lambda c, x, p=p: x ** float(p), [(S, "nokink")])

# --- elementwise, binary, with broadcasting ---------------------------------------------------
BINARY = [
    ("add", mg.add, np.add, "any", "any"),
    ("sub", mg.sub, np.subtract, "any", "any"),
    ("mul", mg.mul, np.multiply, "any", "any"),
    ("div", mg.div, np.divide, "any", "nokink"),
    ("maximum", mg.maximum, np.maximum, "grid", "offgrid"),
]
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)),
               ((2, 3, 4), (3, 1)), ((), (3,))]
for name, f, ref, da, db in BINARY:
    for sa, sb in SHAPE_PAIRS:
        case(f"{name}_{sa}_{sb}".replace(" ", ""), (lambda f: lambda c, a, b: f(a, b))(f),
             (lambda ref: lambda c, a, b: ref(a, b))(ref), [(sa, da), (sb, db)])
for name, f, ref, db in [("add_operator", lambda a, b: a + b, np.add, "any"),
                         ("sub_operator", lambda a, b: a - b, np.subtract, "any"),
                         ("mul_operator", lambda a, b: a * b, np.multiply, "any"),
                         ("div_operator", lambda a, b: a / b, np.divide, "nokink")]:
    case(name, (lambda f: lambda c, a, b: f(a, b))(f), (lambda ref: lambda c, a, b: ref(a, b))(ref),
         [((3, 4), "any"), ((4,), db)])

# Python numbers on either side (converted to the tensor's dtype and device)
for name, f, ref, domain in [
    ("scalar_add_right", lambda x: x + 2.5, lambda x: x + 2.5, "any"),
    ("scalar_add_left", lambda x: 2.5 + x, lambda x: 2.5 + x, "any"),
    ("scalar_add_int", lambda x: x + 2, lambda x: x + 2.0, "any"),
    ("scalar_sub_right", lambda x: x - 2.5, lambda x: x - 2.5, "any"),
    ("scalar_sub_left", lambda x: 2.5 - x, lambda x: 2.5 - x, "any"),
    ("scalar_mul_right", lambda x: x * -1.5, lambda x: x * -1.5, "any"),
    ("scalar_mul_left", lambda x: -1.5 * x, lambda x: -1.5 * x, "any"),
    ("scalar_mul_int_left", lambda x: 3 * x, lambda x: 3.0 * x, "any"),
    ("scalar_div_right", lambda x: x / 2.5, lambda x: x / 2.5, "any"),
    ("scalar_div_left", lambda x: 2.5 / x, lambda x: 2.5 / x, "nokink"),
    ("scalar_add_fn_left", lambda x: mg.add(2.5, x), lambda x: 2.5 + x, "any"),
    ("scalar_maximum_right", lambda x: mg.maximum(x, 0.25), lambda x: np.maximum(x, 0.25), "grid"),
    ("scalar_maximum_left", lambda x: mg.maximum(0.25, x), lambda x: np.maximum(0.25, x), "grid"),
]:
    case(name, (lambda f: lambda c, x: f(x))(f), (lambda ref: lambda c, x: ref(x))(ref), [(S, domain)])

# where: a constant condition; a, b broadcast against it and each other
def cond(rng):
    return {"cond": rng.random((3, 4)) < 0.5}


for name, sa, sb in [("where_same", (3, 4), (3, 4)), ("where_b_row", (3, 4), (4,)),
                     ("where_both_broadcast", (4,), (3, 1))]:
    case(name, lambda c, a, b: mg.where(c["cond"], a, b), lambda c, a, b: np.where(c["cond"], a, b),
         [(sa, "any"), (sb, "any")], cond)
case("where_scalar_b", lambda c, a: mg.where(c["cond"], a, 0.0), lambda c, a: np.where(c["cond"], a, 0.0),
     [((3, 4), "any")], cond)
case("where_scalar_a", lambda c, b: mg.where(c["cond"], -1.0, b), lambda c, b: np.where(c["cond"], -1.0, b),
     [((3, 4), "any")], cond)
case("where_tensor_condition", lambda c, a, b: mg.where(mg.Tensor(c["cond"]), a, b),
     lambda c, a, b: np.where(c["cond"], a, b), [((3, 4), "any"), ((3, 4), "any")],
     cond)

# --- reductions -----------------------------------------------------------------------------
R = (2, 3, 4)
for axis in [None, 0, 1, -1, (0, 2), (-1, 0)]:
    for keepdims in [False, True]:
        tag = f"axis={axis}_keepdims={keepdims}".replace(" ", "")
        case(f"sum_{tag}", lambda c, x, a=axis, k=keepdims: mg.sum(x, a, k),
             lambda c, x, a=axis, k=keepdims: np.sum(x, axis=a, keepdims=k), [(R, "any")])
        case(f"mean_{tag}", lambda c, x, a=axis, k=keepdims: mg.mean(x, a, k),
             lambda c, x, a=axis, k=keepdims: np.mean(x, axis=a, keepdims=k), [(R, "any")])
        case(f"max_{tag}", lambda c, x, a=axis, k=keepdims: mg.max(x, a, k),
             lambda c, x, a=axis, k=keepdims: np.max(x, axis=a, keepdims=k), [(R, "distinct")])
for axis in [-1, 0, (0, 2), None]:
    for keepdims in [False, True]:
        case(f"logsumexp_axis={axis}_keepdims={keepdims}".replace(" ", ""),
             lambda c, x, a=axis, k=keepdims: mg.logsumexp(x, a, k),
             lambda c, x, a=axis, k=keepdims: np.log(np.sum(np.exp(x), axis=a, keepdims=k)), [(R, "any")])
case("sum_method", lambda c, x: x.sum(), lambda c, x: np.sum(x), [(R, "any")])
case("mean_method_axis", lambda c, x: x.mean(1), lambda c, x: x.mean(axis=1), [(R, "any")])
case("max_method_keepdims", lambda c, x: x.max(axis=0, keepdims=True),
     lambda c, x: x.max(axis=0, keepdims=True), [(R, "distinct")])

# sum_to (undo a broadcast) with hand-written references, broadcast_to
for shape, ref in [((3, 4), lambda x: x.sum(axis=0)),
                   ((3, 1), lambda x: x.sum(axis=(0, 2))[:, None]),
                   ((4,), lambda x: x.sum(axis=(0, 1))),
                   ((1, 1, 4), lambda x: x.sum(axis=(0, 1))[None, None, :]),
                   ((2, 1, 1), lambda x: x.sum(axis=(1, 2))[:, None, None]),
                   ((), lambda x: x.sum()),
                   ((2, 3, 4), lambda x: x)]:
    case(f"sum_to_{shape}".replace(" ", ""), lambda c, x, s=shape: mg.sum_to(x, s),
         (lambda ref: lambda c, x: ref(x))(ref), [(R, "any")])
for src, dst in [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((), (2, 3)), ((1, 4), (3, 4)), ((2, 1, 4), (2, 3, 4))]:
    case(f"broadcast_to_{src}_{dst}".replace(" ", ""), lambda c, x, s=dst: mg.broadcast_to(x, s),
         lambda c, x, s=dst: np.broadcast_to(x, s), [(src, "any")])

# --- shape ops ------------------------------------------------------------------------------
for shape in [(6, 4), (-1,), (4, -1), (2, -1, 2), (24,), (1, 2, 12, 1)]:
    case(f"reshape_{shape}".replace(" ", ""), lambda c, x, s=shape: mg.reshape(x, s),
         lambda c, x, s=shape: x.reshape(s), [(R, "any")])
case("reshape_method_args", lambda c, x: x.reshape(4, 6), lambda c, x: x.reshape(4, 6), [(R, "any")])
case("reshape_method_tuple", lambda c, x: x.reshape((3, -1)), lambda c, x: x.reshape(3, 8), [(R, "any")])
for axes in [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)]:
    case(f"transpose_{axes}".replace(" ", ""), lambda c, x, a=axes: mg.transpose(x, a),
         lambda c, x, a=axes: np.transpose(x, a), [(R, "any")])
case("transpose_T_property", lambda c, x: x.T, lambda c, x: x.T, [(R, "any")])
case("transpose_method_args", lambda c, x: x.transpose(2, 1, 0), lambda c, x: x.transpose(2, 1, 0), [(R, "any")])
for a, b in [(0, 2), (-1, -2), (1, 0)]:
    case(f"swapaxes_{a}_{b}", lambda c, x, a=a, b=b: mg.swapaxes(x, a, b),
         lambda c, x, a=a, b=b: np.swapaxes(x, a, b), [(R, "any")])

# getitem on a (4, 5) input: basic slices, negative steps, integer arrays with repeats, boolean masks
G = (4, 5)
INDEXES = {
    "slices": (slice(1, None), slice(None, None, 2)),
    "int_row": 1,
    "int_pair_negative": (1, -2),
    "negative_step": slice(None, None, -1),
    "negative_steps_2d": (slice(3, 0, -2), slice(None, None, -1)),
    "ellipsis_newaxis": (Ellipsis, None, 1),
    "newaxis_slice": (None, slice(1, 3)),
    "int_array_repeats": np.array([0, 2, 2, 0, 3]),
    "int_arrays_pair_repeats": (np.array([0, 1, 1, 3]), np.array([2, 2, 0, 2])),
    "slice_and_int_array": (slice(None), np.array([3, 3, 1])),
    "negative_int_array": np.array([-1, -1, 0]),
    "int_array_2d": np.array([[0, 1], [1, 1]]),
    "python_list_repeats": [1, 1, 3],
    "bool_mask": np.array([[True, False, True, False, True], [False, False, True, True, True],
                           [False, False, False, False, False], [True, True, False, True, False]]),
    "bool_rows_and_slice": (np.array([True, False, True, True]), slice(1, None)),
}
for name, index in INDEXES.items():
    case(f"getitem_{name}", lambda c, x: x[c["index"]], lambda c, x: x[c["index"]], [(G, "any")],
         (lambda index: lambda rng: {"index": index})(index))
case("getitem_tensor_index", lambda c, x: mg.getitem(x, mg.Tensor(c["index"])), lambda c, x: x[c["index"]],
     [(G, "any")], lambda rng: {"index": np.array([2, 0, 2])})

for name, shapes, axis in [("concatenate_axis0", [(2, 3), (4, 3)], 0),
                           ("concatenate_axis1_three", [(2, 3), (2, 1), (2, 2)], 1),
                           ("concatenate_axis-1", [(2, 3, 1), (2, 3, 2)], -1)]:
    case(name, lambda c, *xs, a=axis: mg.concatenate(xs, a), lambda c, *xs, a=axis: np.concatenate(xs, a),
         [(s, "any") for s in shapes])
for axis in [0, 1, 2, -1]:
    case(f"stack_axis{axis}", lambda c, *xs, a=axis: mg.stack(xs, a), lambda c, *xs, a=axis: np.stack(xs, a),
         [((2, 3), "any")] * 3)

# --- linear algebra -------------------------------------------------------------------------
for name, sa, sb in [("matmul_2d", (3, 4), (4, 5)),
                     ("matmul_batched", (2, 3, 4), (2, 4, 5)),
                     ("matmul_broadcast_batch", (2, 1, 3, 4), (3, 4, 2)),
                     ("matmul_matrix_times_batch", (3, 4), (2, 4, 5)),
                     ("matmul_batch_times_matrix", (2, 3, 4), (4, 2))]:
    case(name, lambda c, a, b: mg.matmul(a, b), lambda c, a, b: a @ b, [(sa, "any"), (sb, "any")])
case("matmul_operator", lambda c, a, b: a @ b, lambda c, a, b: a @ b, [((3, 4), "any"), ((4, 2), "any")])
case("linear_bias", lambda c, x, w, b: mg.linear(x, w, b), lambda c, x, w, b: x @ w.T + b,
     [((5, 3), "any"), ((4, 3), "any"), ((4,), "any")])
case("linear_no_bias", lambda c, x, w: mg.linear(x, w), lambda c, x, w: x @ w.T, [((5, 3), "any"), ((4, 3), "any")])


# --- im2col ---------------------------------------------------------------------------------
def im2col_ref(x, kernel, stride, pad, pad_value=0.0):
    """col[n, c, i, j, p, q] = x_padded[n, c, p·sy + i, q·sx + j], by loops."""
    (kh, kw), (sy, sx), (py, px) = kernel, stride, pad
    n, ch, h, w = x.shape
    xp = np.full((n, ch, h + 2 * py, w + 2 * px), pad_value)
    xp[:, :, py:py + h, px:px + w] = x
    oh, ow = (h + 2 * py - kh) // sy + 1, (w + 2 * px - kw) // sx + 1
    col = np.zeros((n, ch, kh, kw, oh, ow))
    for i in range(kh):
        for j in range(kw):
            for p in range(oh):
                for q in range(ow):
                    col[:, :, i, j, p, q] = xp[:, :, p * sy + i, q * sx + j]
    return col


for name, kernel, stride, pad, pad_value in [("im2col_k3x2", (3, 2), (1, 1), (0, 0), 0.0),
                                             ("im2col_k3_s2_p1", (3, 3), (2, 2), (1, 1), 0.0),
                                             ("im2col_k2x3_s2x1_p1x2", (2, 3), (2, 1), (1, 2), 0.0),
                                             ("im2col_k2_s2_p1_padvalue", (2, 2), (2, 2), (1, 1), -3.0)]:
    case(name, lambda c, x, k=kernel, s=stride, p=pad, v=pad_value: mg.im2col(x, k, s, p, v),
         lambda c, x, k=kernel, s=stride, p=pad, v=pad_value: im2col_ref(x, k, s, p, v), [((2, 2, 5, 6), "any")])
case("im2col_int_args", lambda c, x: mg.im2col(x, 2, 1, 1), lambda c, x: im2col_ref(x, (2, 2), (1, 1), (1, 1)),
     [((1, 2, 3, 4), "any")])


# --- softmax and cross-entropy --------------------------------------------------------------
def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


for shape, axis in [((3, 5), -1), ((2, 3, 4), 1), ((2, 3, 4), 0)]:
    case(f"softmax_{shape}_axis{axis}".replace(" ", ""), lambda c, x, a=axis: mg.softmax(x, a),
         lambda c, x, a=axis: softmax_ref(x, a), [(shape, "any")])


def cross_entropy_ref(z, labels):
    lse = np.log(np.exp(z).sum(axis=1))
    return np.mean(lse - z[np.arange(len(z)), labels])


LABELS = lambda rng: {"labels": rng.integers(0, 4, 6)}  # noqa: E731
case("softmax_cross_entropy", lambda c, z: mg.softmax_cross_entropy(z, c["labels"]),
     lambda c, z: cross_entropy_ref(z, c["labels"]), [((6, 4), "any")], LABELS)
case("softmax_cross_entropy_tensor_labels", lambda c, z: mg.softmax_cross_entropy(z, mg.Tensor(c["labels"])),
     lambda c, z: cross_entropy_ref(z, c["labels"]), [((6, 4), "any")], LABELS)


# --- the table tests --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_forward_matches_numpy(case, device):
    arrays, c_host, tensors, c = case.make(device)
    out = case.f(c, *tensors)
    expected = np.asarray(case.ref(c_host, *arrays))
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    assert out.device.name == device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_first_order(case, device):
    arrays, _, tensors, c = case.make(device)
    f = lambda *xs: case.f(c, *xs)  # noqa: E731
    check_grad(f, tensors)
    # Reverse gradients have the shape, dtype and device of their input (broadcasting undone).
    xs = [mg.Tensor(t.data, requires_grad=True) for t in tensors]
    y = f(*xs)
    ybar = mg.to_device(np.random.default_rng(5).standard_normal(y.shape), device)
    for x, g in zip(xs, mg.grad(y, xs, ybar)):
        assert g.shape == x.shape and g.dtype == x.dtype and g.device.name == device


@pytest.mark.parametrize("case", CASES)
def test_second_order(case, device):
    _, _, tensors, c = case.make(device)
    check_second_order(lambda *xs: case.f(c, *xs), tensors)


@pytest.mark.parametrize("case", CASES)
def test_float32_stays_float32(case, device):
    """No silent upcast: output, gradients, tangents and second-order gradients are all float32."""
    arrays, c_host, tensors, c = case.make(device, dtype=np.float32)
    xs = [mg.Tensor(t.data, requires_grad=True) for t in tensors]
    y = case.f(c, *xs)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), case.ref(c_host, *arrays), rtol=2e-5, atol=2e-5)
    ybar = mg.to_device(np.ones(y.shape, np.float32), device)
    grads = mg.grad(y, xs, ybar, create_graph=True)
    assert [g.dtype for g in grads] == [np.float32] * len(xs)
    second = mg.grad(sum(((g * g).sum() for g in grads), mg.tensor(np.float32(0.0), device=device)), xs)
    assert [g.dtype for g in second] == [np.float32] * len(xs)
    rng = np.random.default_rng(0)
    for x in xs:
        x.tangent = mg.to_device(rng.standard_normal(x.shape).astype(np.float32), device)
    assert case.f(c, *xs).tangent.dtype == np.float32


# --- cast between dtypes ----------------------------------------------------------------------

@pytest.mark.parametrize("src, dst", [(np.float32, np.float64), (np.float64, np.float32)])
def test_cast_dtypes_values_and_gradient_dtype(device, src, dst):
    """cast changes the dtype forward; the gradient comes back in the input's dtype, tangents in the output's."""
    host = np.random.default_rng(0).standard_normal((3, 4))
    x = mg.tensor(host.astype(src), device=device, requires_grad=True)
    y = mg.cast(x, dst)
    assert y.dtype == dst
    np.testing.assert_array_equal(y.numpy(), host.astype(src).astype(dst))
    w = host[::-1].copy()
    g = mg.grad((y * mg.tensor(w.astype(dst), device=device)).sum(), x)
    assert g.dtype == src
    np.testing.assert_allclose(g.numpy(), w.astype(dst).astype(src), rtol=1e-6)
    x.tangent = mg.to_device(np.ones((3, 4), src), device)
    assert mg.cast(x, dst).tangent.dtype == dst
    x.tangent = None
    check_grad(lambda t: mg.cast(t, dst), [x], eps=1e-2, rtol=1e-4, atol=1e-5)
    check_second_order(lambda t: mg.cast(t, dst), [x], eps=1e-2, rtol=1e-4, atol=1e-5)


# --- behaviour at kinks, ties and extremes ------------------------------------------------------

def test_max_splits_gradient_evenly_among_ties(device):
    x = mg.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), device=device, requires_grad=True)
    g = mg.grad(mg.max(x, axis=1).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    x.tangent = mg.to_device(np.array([[9.0, 1.0, 2.0], [4.0, 5.0, 6.0]]), device)
    np.testing.assert_array_equal(mg.to_host(mg.max(x, axis=1).tangent), [1.5, 4.0])


def test_maximum_tie_gives_gradient_to_first_argument(device):
    a = mg.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    b = mg.tensor(np.array([1.0, 5.0, 0.0]), device=device, requires_grad=True)
    ga, gb = mg.grad(mg.maximum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gb.numpy(), [0.0, 1.0, 0.0])


def test_relu_at_zero_has_zero_gradient(device):
    x = mg.tensor(np.array([-1.0, 0.0, 2.0]), device=device, requires_grad=True)
    np.testing.assert_array_equal(mg.grad(mg.relu(x).sum(), x).numpy(), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("name, f, domain", [
    ("relu", lambda x: mg.relu(x), "nokink"),
    ("abs", lambda x: mg.abs(x), "nokink"),
    ("max", lambda x: mg.max(x, axis=1), "distinct"),
    ("maximum", lambda x: mg.maximum(x, 0.25), "grid"),
])
def test_piecewise_linear_ops_have_zero_hessian_away_from_kinks(device, name, f, domain):
    """Their second derivative is zero almost everywhere: H v = 0 by both HVP methods."""
    rng = np.random.default_rng(0)
    x = mg.tensor(draw(rng, (3, 4), domain), device=device, requires_grad=True)
    w = mg.to_device(rng.standard_normal(f(x).shape), device)
    v = mg.to_device(rng.standard_normal((3, 4)), device)
    for method in mg.hvp_methods:
        (hv,) = mg.hvp(lambda: (f(x) * w).sum(), [x], [v], method)
        np.testing.assert_array_equal(hv.numpy(), np.zeros((3, 4)))


def test_logsumexp_is_stable_and_handles_minus_infinity(device):
    x = mg.tensor(np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [0.0, -np.inf]]), device=device,
                  requires_grad=True)
    out = mg.logsumexp(x, axis=1)
    np.testing.assert_allclose(out.numpy(), [1000.0 + np.log(2), -1000.0 + np.log(2), 0.0], rtol=1e-15)
    g = mg.grad(out.sum(), x)
    np.testing.assert_allclose(g.numpy(), [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]], rtol=1e-15)


def test_softmax_and_cross_entropy_are_stable_for_large_logits(device):
    z = mg.tensor(np.array([[1000.0, 0.0, -1000.0], [500.0, 500.0, 0.0]]), device=device, requires_grad=True)
    p = mg.softmax(z).numpy()
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], rtol=1e-15, atol=1e-15)
    labels = mg.to_device(np.array([2, 0]), device)
    loss = mg.softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(loss.item(), (2000.0 + np.log(2)) / 2, rtol=1e-15)
    g = mg.grad(loss, z).numpy()
    np.testing.assert_allclose(g, np.array([[1.0, 0.0, -1.0], [-0.5, 0.5, 0.0]]) / 2, atol=1e-15)


def test_getitem_repeated_indices_accumulate(device):
    x = mg.tensor(np.arange(4.0), device=device, requires_grad=True)
    idx = mg.to_device(np.array([0, 0, 0, 2, -1]), device)
    g = mg.grad((x[idx] * mg.to_device(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), device)).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [6.0, 0.0, 4.0, 5.0])


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot(device):
    rng = np.random.default_rng(3)
    z_host, labels = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    z = mg.tensor(z_host, device=device, requires_grad=True)
    g = mg.grad(mg.softmax_cross_entropy(z, mg.to_device(labels, device)), z).numpy()
    np.testing.assert_allclose(g, (softmax_ref(z_host, 1) - np.eye(3)[labels]) / 5, rtol=1e-12, atol=1e-15)


def test_relu_computes_its_mask_once_for_both_rules(device):
    """In a forward-over-reverse pass ReLU's jvp and vjp both need [x > 0]: one array, made once."""
    x = mg.tensor(np.array([[-1.0, 2.0, 0.0, 3.0]]), device=device, requires_grad=True)
    x.tangent = mg.to_device(np.ones((1, 4)), device)
    y = mg.relu(x)
    fn, mask = y.creator, y.creator.mask()
    np.testing.assert_array_equal(mg.to_host(y.tangent), [[0.0, 1.0, 0.0, 1.0]])
    (gx,) = fn.vjp(mg.Tensor(mg.to_device(np.full((1, 4), 2.0), device)))
    assert fn.mask() is mask
    np.testing.assert_array_equal(gx.numpy(), [[0.0, 2.0, 0.0, 2.0]])
    np.testing.assert_array_equal(y.numpy(), [[0.0, 2.0, 0.0, 3.0]])


def test_plus_into_adds_into_the_new_array_with_plus_bits(device):
    """Linear's and matmul's jvp add the other terms into their product: the numbers of plus, out of place
    only where a term would change the result's dtype or shape; a lone term comes back untouched."""
    from minigrad.core import plus, plus_into
    rng = np.random.default_rng(5)
    made, b, c = (mg.to_device(rng.standard_normal(s).astype(np.float32), device) for s in ((3, 4), (3, 4), (4,)))
    expected = mg.to_host(plus(made, b, None, c))
    total = plus_into(made, b, None, c)
    assert mg.to_host(total).tobytes() == expected.tobytes()
    assert mg.to_host(made).tobytes() == expected.tobytes()          # the sum went into the product's array
    wide = mg.to_device(rng.standard_normal((2, 3, 4)).astype(np.float32), device)
    assert plus_into(mg.to_device(np.ones((3, 4), np.float32), device), wide).shape == (2, 3, 4)
    assert plus_into(mg.to_device(np.ones(2, np.float32), device), mg.to_device(np.ones(2), device)).dtype == np.float64
    lone = mg.to_device(np.ones(3), device)
    assert plus_into(None, lone) is lone and mg.to_host(lone).tolist() == [1.0, 1.0, 1.0]


# --- errors a user gets instead of a wrong answer ------------------------------------------------

def test_bad_arguments_raise_clear_errors():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="constant"):
        mg.power(x, x)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mg.matmul(x, mg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="linear expects"):
        mg.linear(x, mg.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match="cross-entropy expects"):
        mg.softmax_cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="cross-entropy expects"):
        mg.softmax_cross_entropy(mg.tensor(np.ones(3)), np.array([0, 1, 2]))
