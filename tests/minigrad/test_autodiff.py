"""The graph and the one gradient path: traversal, fan-out, grad's contract, grad mode, backward()."""
import numpy
import pytest

import minigrad as mg


def test_deep_chain_of_3000_layers_does_not_recurse(device):
    """A 3,000-op chain: y = x·a^3000 in small steps; traversal must be iterative and exact."""
    x = mg.tensor(numpy.array([1.5]), device=device, requires_grad=True)
    h = x
    for _ in range(3000):
        h = h * 1.0001
    (g,) = mg.grad(h.sum(), [x])
    assert numpy.isclose(g.item(), 1.0001 ** 3000, rtol=1e-12)


def test_deep_residual_chain_second_order(device):
    """3,000 residual steps h ← h + tanh(h)·c; second derivative by rev-rev equals fwd-rev."""
    x = mg.tensor(numpy.array([0.3]), device=device, requires_grad=True)

    def f():
        h = x
        for _ in range(3000):
            h = h + mg.tanh(h) * 1e-3
        return h.sum()
    (g,) = mg.grad(f(), [x], create_graph=True)
    (h2,) = mg.grad(g.sum(), [x])
    (h_fwd,) = mg.hvp(f, [x], [mg.to_device(numpy.ones(1), device)])
    assert numpy.isclose(h2.item(), h_fwd.item(), rtol=1e-10)


def test_fan_out_accumulates(device):
    """micrograd's counterexample: b = a + a, c = b + b, so dc/da = 4; and a node reused by many consumers."""
    a = mg.tensor(numpy.array(2.0), device=device, requires_grad=True)
    b = a + a
    c = b + b
    assert mg.grad(c, a).item() == 4.0
    d = a * a * a + a       # a used three times in a product and once more: 3a² + 1
    assert mg.grad(d, a).item() == 13.0


def test_skip_connection_gradient_matches_closed_form(device):
    """y = relu(w x) + x (a skip reusing x): dy/dx = w·[w x > 0] + 1."""
    x = mg.tensor(numpy.array([[1.0, -2.0, 3.0]]), device=device, requires_grad=True)
    w = mg.tensor(numpy.array([[0.5, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]]), device=device)
    y = mg.relu(x @ w) + x
    (g,) = mg.grad(y.sum(), [x])
    expected = numpy.array([[0.5 + 1, 1.0, 1.0]])   # column 2: 2·(-2) < 0 → 0; column 3: -3 < 0 → 0
    numpy.testing.assert_allclose(g.numpy(), expected)


def test_grad_with_respect_to_intermediate_tensors(device):
    """Gradients with respect to activations (the paper's Figs 6 and 8 need them)."""
    x = mg.tensor(numpy.array([1.0, 2.0]), device=device, requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    gh, gx = mg.grad(y, [h, x])
    numpy.testing.assert_allclose(gh.numpy(), 2 * 3.0 * numpy.array([1.0, 2.0]))
    numpy.testing.assert_allclose(gx.numpy(), 18.0 * numpy.array([1.0, 2.0]))


def test_grad_outputs_gives_vector_jacobian_product(device):
    x = mg.tensor(numpy.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    y = x * x
    v = mg.to_device(numpy.array([1.0, -1.0, 0.5]), device)
    (g,) = mg.grad(y, [x], grad_outputs=v)
    numpy.testing.assert_allclose(g.numpy(), 2 * numpy.array([1.0, 2.0, 3.0]) * numpy.array([1.0, -1.0, 0.5]))


def test_unused_input_gets_zero_and_only_requested_inputs_are_computed(device):
    x = mg.tensor(numpy.ones(3), device=device, requires_grad=True)
    z = mg.tensor(numpy.ones(2), device=device, requires_grad=True)
    gz = mg.grad((x * 2.0).sum(), z)
    numpy.testing.assert_array_equal(gz.numpy(), numpy.zeros(2))


def test_needs_input_grad_skips_unrequested_branches():
    """Asking only for W of a dense layer must not compute the (large) input gradient."""
    calls = []
    original = mg.ops.linalg.MatMul.vjp

    def spy(self, gy):
        calls.append(self.needs_input_grad)
        return original(self, gy)
    mg.ops.linalg.MatMul.vjp = spy
    try:
        x = mg.tensor(numpy.ones((4, 3)), requires_grad=True)
        w = mg.tensor(numpy.ones((3, 2)), requires_grad=True)
        mg.grad((x @ w).sum(), [w])
    finally:
        mg.ops.linalg.MatMul.vjp = original
    assert calls == [(False, True)]


def test_non_scalar_output_needs_grad_outputs():
    x = mg.tensor(numpy.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="grad_outputs"):
        mg.grad(x * 2.0, [x])
    with pytest.raises(ValueError, match="does not match"):
        mg.grad(x * 2.0, [x], grad_outputs=numpy.ones(2))


def test_create_graph_false_records_nothing_and_true_records(device):
    x = mg.tensor(numpy.array([0.5]), device=device, requires_grad=True)
    (g,) = mg.grad(mg.tanh(x).sum(), [x])
    assert g.creator is None and not g.requires_grad
    (g2,) = mg.grad(mg.tanh(x).sum(), [x], create_graph=True)
    assert g2.creator is not None
    (h,) = mg.grad(g2.sum(), [x])
    t = numpy.tanh(0.5)
    assert numpy.isclose(h.item(), -2 * t * (1 - t * t), rtol=1e-12)


def test_third_order(device):
    """Every rule is written in engine ops, so differentiation nests to any order: d³/dx³ sin-free check on x⁴."""
    x = mg.tensor(numpy.array(1.5), device=device, requires_grad=True)
    g1 = mg.grad(x ** 4, x, create_graph=True)
    g2 = mg.grad(g1, x, create_graph=True)
    g3 = mg.grad(g2, x)
    assert numpy.isclose(g3.item(), 24 * 1.5)


def test_no_grad_records_no_graph(device):
    x = mg.tensor(numpy.ones(2), device=device, requires_grad=True)
    with mg.no_grad():
        y = x * 2.0
    assert y.creator is None and not y.requires_grad
    assert mg.is_grad_enabled()


def test_backward_accumulates_into_leaves_only(device):
    x = mg.tensor(numpy.array([1.0, 2.0]), device=device, requires_grad=True)
    w = mg.tensor(numpy.array([3.0, 4.0]), device=device, requires_grad=True)
    h = x * w
    (h * h).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * numpy.array([3.0, 8.0]) * numpy.array([3.0, 4.0]))
    assert h.grad is None
    (x * w).sum().backward()          # a second backward adds, as in PyTorch
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * numpy.array([3.0, 8.0]) * numpy.array([3.0, 4.0]) + [3.0, 4.0])
    assert x.grad.creator is None     # .grad never holds a graph


def test_graph_is_freed_when_the_loss_is_dropped():
    """Ops hold their outputs weakly, so a dropped loss frees the whole graph without the cycle collector."""
    import gc
    import weakref
    gc.disable()
    try:
        x = mg.tensor(numpy.ones(4), requires_grad=True)
        loss = mg.exp(x).sum()
        probe = weakref.ref(loss.creator.inputs[0])    # the exp output
        del loss
        assert probe() is None
    finally:
        gc.enable()


def test_float32_stays_float32_through_gradients(device):
    x = mg.tensor(numpy.ones((3, 2), numpy.float32), device=device, requires_grad=True)
    loss = (mg.tanh(x * 0.5 + 1.0) / 3.0).mean()
    (g,) = mg.grad(loss, [x])
    assert loss.dtype == numpy.float32 and g.dtype == numpy.float32


# ----------------------------------------------------------------------------- sums of cotangents in place

def _vector(values, device):
    return mg.to_device(numpy.array(values), device)


def test_a_sum_never_goes_into_a_cotangent_another_input_holds(device):
    """x + z and x + w hand each of their cotangents to two inputs: x's sum of the two must go into a new array,
    or z's and w's gradients change (a shared subexpression). Both orders of the two terms."""
    x, z, w = (mg.tensor(numpy.array(v), device=device, requires_grad=True)
               for v in ([1.0, 2.0], [3.0, -1.0], [0.5, 4.0]))
    c, d = _vector([2.0, 5.0], device), _vector([-3.0, 7.0], device)
    for flip in (False, True):
        a, b = ((x + z) * c).sum(), ((x + w) * d).sum()
        gx, gz, gw = mg.grad(b + a if flip else a + b, [x, z, w])
        numpy.testing.assert_array_equal(gz.numpy(), [2.0, 5.0])
        numpy.testing.assert_array_equal(gw.numpy(), [-3.0, 7.0])
        numpy.testing.assert_array_equal(gx.numpy(), [-1.0, 12.0])


def test_a_tensor_used_twice_keeps_the_gradient_of_its_sum(device):
    """s = x + x hands s's cotangent to x twice; s's own gradient (asked for) must stay what it was."""
    x = mg.tensor(numpy.array([1.0, -2.0]), device=device, requires_grad=True)
    s = x + x
    gs, gx = mg.grad((s * _vector([3.0, 4.0], device)).sum(), [s, x])
    numpy.testing.assert_array_equal(gs.numpy(), [3.0, 4.0])
    numpy.testing.assert_array_equal(gx.numpy(), [6.0, 8.0])


def test_grad_outputs_and_views_of_a_cotangent_are_never_written(device):
    """The seed is the caller's array, and concatenate's rule hands out views of one cotangent: neither is
    a place to sum into."""
    x = mg.tensor(numpy.array([1.0, 2.0]), device=device, requires_grad=True)
    seed = _vector([1.0, -1.0], device)
    (gx,) = mg.grad(x + x, [x], grad_outputs=seed)
    numpy.testing.assert_array_equal(mg.to_host(seed), [1.0, -1.0])
    numpy.testing.assert_array_equal(gx.numpy(), [2.0, -2.0])
    both = mg.concatenate([x, x])
    gboth, gx = mg.grad((both * _vector([1.0, 2.0, 3.0, 4.0], device)).sum(), [both, x])
    numpy.testing.assert_array_equal(gboth.numpy(), [1.0, 2.0, 3.0, 4.0])
    numpy.testing.assert_array_equal(gx.numpy(), [4.0, 6.0])


def test_fan_out_of_a_residual_chain_is_summed_in_place_with_the_same_bits(device, monkeypatch):
    """Each skip's two cotangents meet at its input: the product's is new, so the sum goes into it, and the
    reverse pass adds no array at all. The gradients are those of the out-of-place sums (create_graph=True
    records every sum as an op), bit for bit, in float64 and float32."""
    from minigrad.ops import elementwise
    rng = numpy.random.default_rng(0)
    for dtype in (numpy.float64, numpy.float32):
        x = mg.tensor(rng.standard_normal((6, 5)).astype(dtype), device=device, requires_grad=True)
        ws = [mg.tensor(rng.standard_normal((5, 5)).astype(dtype), device=device, requires_grad=True)
              for _ in range(4)]
        h = x
        for w in ws:
            h = mg.relu(h @ w) + h
        loss = (h * h).sum()
        expected = mg.grad(loss, [x] + ws, create_graph=True)
        sums = []
        monkeypatch.setattr(elementwise.Add, "forward", lambda self, a, b: sums.append(1) or a + b)
        got = mg.grad(loss, [x] + ws)
        monkeypatch.undo()
        assert not sums
        for g, e in zip(got, expected):
            assert g.dtype == dtype
            numpy.testing.assert_array_equal(g.numpy(), e.numpy())


def test_in_place_work_writes_nothing_anyone_holds_and_gives_the_out_of_place_bits(device, monkeypatch):
    """A graph that reads the same tensors many times: a parameter in two layers, a bias in two, a pre-activation
    read by its ReLU and by a sum, a tensor multiplied by itself, a product of a tensor with its own transpose.
    sums whose one cotangent goes to two inputs. The in-place work of the reverse and forward passes (sums of
    cotangents into arrays only the walk holds,
    Linear's tangent terms added into its first product) must leave every array anyone holds as it was (each
    op's inputs and output, the parameters, the seed, the HVP's directions), and give the gradients and the HVP
    of the out-of-place path bit for bit."""
    from minigrad import autodiff, core
    from minigrad.ops import linalg
    rng = numpy.random.default_rng(0)
    x, w = (mg.tensor(rng.standard_normal(shape), device=device, requires_grad=True) for shape in ((4, 3), (3, 3)))
    b = mg.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    params = [x, w, b]
    vs = [mg.to_device(rng.standard_normal(p.shape), device) for p in params]

    def loss():
        h = mg.linear(x, w, b)
        u = mg.relu(h) + h                               # h read by its ReLU and by the sum
        v = mg.linear(u, w, b) + u * x + x * x          # w and b in two layers, x twice, u twice
        one, two = ((x + mg.tanh(h)) * u).sum(), ((x + mg.sigmoid(u)) * h).sum()   # each sum's cotangent: two inputs
        return (v @ v.T).sum() + (one + two) + (two + one)   # v with its own transpose; both orders

    def arrays(root):
        held = [(t, mg.to_host(t.data).copy()) for fn in autodiff.toposort([root]) for t in (*fn.inputs, fn.output)]
        return held + [(p, mg.to_host(p.data).copy()) for p in params]

    def unchanged(held):
        for t, before in held:
            numpy.testing.assert_array_equal(mg.to_host(t.data), before)

    def passes():
        root = loss()
        held = arrays(root)
        seed = mg.to_device(numpy.array(1.5), device)
        grads = mg.grad(root, params, grad_outputs=mg.Tensor(seed))
        unchanged(held)
        assert mg.to_host(seed) == 1.5
        directions = [mg.to_host(v).copy() for v in vs]
        hvps = mg.hvp(loss, params, vs)
        for v, before in zip(vs, directions):
            numpy.testing.assert_array_equal(mg.to_host(v), before)
        unchanged(held)
        return [g.numpy() for g in grads + list(hvps)]

    in_place = passes()
    cotangents = autodiff._Cotangents
    monkeypatch.setattr(autodiff, "_Cotangents", lambda in_place: cotangents(in_place=False))
    monkeypatch.setattr(linalg, "plus_into", core.plus)
    for got, expected in zip(in_place, passes(), strict=True):
        numpy.testing.assert_array_equal(got, expected)
