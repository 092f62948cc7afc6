"""Optimizers (minigrad/optim) against hand-written NumPy references of PyTorch's update rules.

The references below are written from PyTorch's documented algorithms (torch.optim.SGD
with dampening 0 and nesterov False; torch.optim.Adam with amsgrad False and L2 weight
decay), keeping, as PyTorch does, one step counter per parameter. Gradients are fixed
random sequences fed through `.grad`, so the comparison is exact (1e-12 in float64).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn, optim

from .nets import ResidualMLP


class SGDRef:
    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        self.lr, self.momentum, self.wd, self.buf = lr, momentum, weight_decay, {}

    def step(self, i, p, g):
        d = g + self.wd * p if self.wd != 0 else g
        if self.momentum != 0:
            self.buf[i] = d.copy() if i not in self.buf else self.momentum * self.buf[i] + d
            d = self.buf[i]
        return p - self.lr * d


class AdamRef:
    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.m, self.v, self.t = {}, {}, {}

    def step(self, i, p, g):
        if self.wd != 0:
            g = g + self.wd * p
        self.t[i] = self.t.get(i, 0) + 1
        self.m[i] = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
        self.v[i] = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g * g
        step_size = self.lr / (1 - self.b1 ** self.t[i])
        denom = np.sqrt(self.v[i]) / math.sqrt(1 - self.b2 ** self.t[i]) + self.eps
        return p - step_size * self.m[i] / denom


SHAPES = [(3, 2), (4,), ()]


def make_params(device, seed=0):
    rng = np.random.default_rng(seed)
    hosts = [rng.standard_normal(s) for s in SHAPES]
    return hosts, [nn.Parameter(mg.to_device(np.array(h), device)) for h in hosts]


def gradient_sequence(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def run(opt, params, ref, hosts, grads, device):
    """Feed the same gradients to the optimizer and the reference; compare after every step."""
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = mg.Tensor(mg.to_device(g, device))
        opt.step()
        hosts = [ref.step(i, h, g) for i, (h, g) in enumerate(zip(hosts, step_grads))]
        for p, h in zip(params, hosts):
            np.testing.assert_allclose(p.numpy(), h, rtol=1e-12, atol=1e-12)
    return hosts


SGD_CONFIGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.1, weight_decay=0.01),
               dict(lr=0.03, momentum=0.5, weight_decay=0.1)]
ADAM_CONFIGS = [dict(lr=1e-2), dict(lr=5e-2, betas=(0.8, 0.99), eps=1e-6),
                dict(lr=1e-2, weight_decay=0.1), dict(lr=0.1, betas=(0.5, 0.9), weight_decay=0.5)]


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=str)
def test_sgd_matches_pytorch_formula(device, config):
    hosts, params = make_params(device)
    run(optim.SGD(params, **config), params, SGDRef(**config), hosts, gradient_sequence(6), device)


@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=str)
def test_adam_matches_pytorch_formula(device, config):
    """Matrix and vector parameters (the 0-d case is below)."""
    hosts, params = make_params(device)
    grads = gradient_sequence(6)
    run(optim.Adam(params[:2], **config), params[:2], AdamRef(**config), hosts[:2], [g[:2] for g in grads], device)


@pytest.mark.parametrize("device_name", ["cpu", "strict"])
def test_adam_matches_pytorch_formula_for_a_0d_parameter(device_name):
    hosts, params = make_params(device_name)
    grads = gradient_sequence(4)
    run(optim.Adam(params[2:], lr=0.1), params[2:], AdamRef(lr=0.1), hosts[2:], [g[2:] for g in grads], device_name)


def test_adam_default_hyperparameters():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.Adam([p])
    assert opt.hyper == {"lr": 5e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    p.grad = mg.Tensor(np.array([3.0]))
    opt.step()                                  # the first Adam step moves by lr·sign(g) (up to eps)
    np.testing.assert_allclose(p.data, [1.0 - 5e-4], rtol=1e-10)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)])
def test_zero_grad_and_parameters_without_grad_are_skipped(device, make):
    hosts, params = make_params(device)
    opt = make(params)
    for p in params:
        p.grad = mg.Tensor(mg.to_device(np.ones(p.shape), device))
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.step()                                   # nothing has a gradient: nothing moves, no state appears
    for p, h in zip(params, hosts):
        np.testing.assert_array_equal(p.numpy(), h)
    assert opt.state == [{}, {}, {}]
    params[1].grad = mg.Tensor(mg.to_device(np.ones(4), device))
    opt.step()                                   # only the parameter with a gradient moves
    np.testing.assert_array_equal(params[0].numpy(), hosts[0])
    np.testing.assert_array_equal(params[2].numpy(), hosts[2])
    assert not np.allclose(params[1].numpy(), hosts[1])
    assert opt.state[0] == {} and opt.state[1] != {}


def test_adam_parameter_that_starts_late_gets_its_own_bias_correction():
    """PyTorch skips a parameter without a gradient entirely, including its step counter."""
    a, b = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([1.0]))
    opt, ref = optim.Adam([a, b], lr=0.1), AdamRef(lr=0.1)
    a.grad = mg.Tensor(np.array([1.0]))           # step 1: only a has a gradient
    opt.step()
    b.grad = mg.Tensor(np.array([1.0]))           # step 2: b's first update
    opt.step()
    np.testing.assert_allclose(b.data, ref.step(1, np.array([1.0]), np.array([1.0])), rtol=1e-12)   # 0.9


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_state_dict_round_trip_resumes_identically(device, name):
    make = {"sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
            "adam": lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.01)}[name]
    grads = gradient_sequence(6)
    _, params = make_params(device)
    opt = make(params)
    _, twin = make_params(device)
    feed(opt, params, grads[:3], device)
    saved = opt.state_dict()
    assert saved["steps"] == 3 and all(type(v) is np.ndarray for s in saved["state"] for v in s.values())
    for p, q in zip(twin, params):
        p.data = mg.to_device(q.numpy(), device)
    resumed = make(twin)
    resumed.hyper["lr"] = 123.0                  # overwritten by the load
    resumed.load_state_dict(saved)
    assert all(mg.get_array_module(v) is mg.get_device(device).xp for s in resumed.state for v in s.values())
    feed(opt, params, grads[3:], device)
    feed(resumed, twin, grads[3:], device)
    for p, q in zip(params, twin):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    with pytest.raises(ValueError, match="different number of parameters"):
        make(twin[:2]).load_state_dict(saved)


def setattr_grads(params, grads, device):
    for p, g in zip(params, grads):
        p.grad = mg.Tensor(mg.to_device(g, device))


def feed(opt, params, sequence, device):
    for grads in sequence:
        setattr_grads(params, grads, device)
        opt.step()


@pytest.mark.parametrize("device_name", ["cpu", "strict"])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_loading_an_optimizer_state_does_not_alias_the_saved_dict(device_name, name):
    """A saved state is a snapshot: stepping after loading it must not change it (it can be loaded twice)."""
    make = {"sgd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "adam": lambda ps: optim.Adam(ps, lr=0.1)}[name]
    _, params = make_params(device_name)
    opt = make(params)
    setattr_grads(params, gradient_sequence(1)[0], device_name)
    opt.step()
    saved = opt.state_dict()
    snapshot = [{k: v.copy() for k, v in s.items()} for s in saved["state"]]
    opt.load_state_dict(saved)
    setattr_grads(params, gradient_sequence(1, seed=2)[0], device_name)
    opt.step()
    for s, t in zip(saved["state"], snapshot):
        for k in t:
            np.testing.assert_array_equal(s[k], t[k])


def test_optimizer_needs_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD([], lr=0.1)


@pytest.mark.parametrize("make, steps", [(lambda ps: optim.SGD(ps, lr=0.1), 300),
                                         (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), 300),
                                         (lambda ps: optim.Adam(ps, lr=0.05), 600)])
def test_least_squares_converges(device, make, steps):
    """min_w mean((A w + b - y)²) with y = A w* + b*: both optimizers reach (w*, b*)."""
    rng = np.random.default_rng(0)
    a_host, w_true, b_true = rng.standard_normal((32, 3)), np.array([[1.5], [-2.0], [0.5]]), np.array([0.3])
    a = mg.tensor(a_host, device=device)
    y = mg.tensor(a_host @ w_true + b_true, device=device)
    model = nn.Linear(3, 1, rng=0, dtype=np.float64).to(device)
    opt = make(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(a), y).backward()
        opt.step()
    np.testing.assert_allclose(model.weight.numpy(), w_true.T, atol=1e-3)
    np.testing.assert_allclose(model.bias.numpy(), b_true, atol=1e-3)


class PerParameterAdam(optim.Optimizer):
    """Adam as it was written before the flat buffers: ten array operations per parameter per step."""

    def __init__(self, params, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def update(self, param, grad, state, t):
        lr, (b1, b2), eps, wd = (self.hyper[k] for k in ("lr", "betas", "eps", "weight_decay"))
        if wd:
            grad = grad + wd * param
        if "m" not in state:
            xp = mg.get_array_module(param)
            state["m"], state["v"] = xp.zeros_like(param), xp.zeros_like(param)
        m, v = state["m"], state["v"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        denom = mg.get_array_module(v).sqrt(v)
        denom *= 1 / math.sqrt(1 - b2 ** t)
        denom += eps
        param -= (lr / (1 - b1 ** t)) * (m / denom)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [None, 37])
def test_flat_adam_equals_per_parameter_adam_step_for_step(device, dtype, chunk, monkeypatch):
    """Training a residual MLP: the flat, whole-buffer Adam gives bit for bit the per-parameter Adam's weights,
    also when NumPy steps the buffer in cache-sized pieces (chunk: a tiny piece size, so pieces are many)."""
    from minigrad.optim import adam
    if chunk:
        monkeypatch.setattr(adam, "CHUNK", chunk)
    from minigrad import functional as F
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 12)).astype(dtype), rng.integers(0, 5, 64)
    nets = [ResidualMLP(inputs=12, width=16, depth=4, classes=5, rng=3, dtype=dtype).to(device)
            for _ in range(2)]
    flat, old = optim.Adam(nets[0].parameters(), lr=1e-2, weight_decay=0.01), \
        PerParameterAdam(nets[1].parameters(), lr=1e-2, weight_decay=0.01)
    assert len(flat.groups) == 1 and flat.groups[0].data.size == sum(p.size for p in nets[0].parameters())
    xs, ys = mg.to_device(x, device), mg.to_device(y, device)
    for _ in range(5):
        for net, opt in zip(nets, (flat, old)):
            opt.zero_grad()
            F.cross_entropy(net(mg.Tensor(xs)), ys).backward()
            opt.step()
        for p, q in zip(nets[0].parameters(), nets[1].parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
    for s, t in zip(flat.state_dict()["state"], old.state_dict()["state"]):
        np.testing.assert_array_equal(s["m"], t["m"])
        np.testing.assert_array_equal(s["v"], t["v"])


def test_flat_adam_keeps_one_buffer_per_dtype_and_refuses_replaced_parameters():
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2, dtype=np.float32))
    opt = optim.Adam([a, b], lr=0.1)
    assert [g.data.dtype for g in opt.groups] == [np.float64, np.float32]
    assert a.data.base is opt.groups[0].data and b.data.base is opt.groups[1].data
    a.data = np.zeros(3)                                  # e.g. model.to(...) after the optimizer was built
    a.grad, b.grad = mg.Tensor(np.ones(3)), mg.Tensor(np.ones(2, dtype=np.float32))
    with pytest.raises(RuntimeError, match="build the optimizer after the model is in place"):
        opt.step()
