"""Modules, layers and initializers (minigrad/nn).

Asserts: how a Module finds its parameters (order and dotted names, through nested
Sequentials and lists of modules); state_dict round trips that restore values into
the same Parameter objects and reject mismatches clearly; buffers; train/eval;
moving a model to the strict device; the statistics of every initializer; the
shapes of the standard layers and the errors for bad input shapes.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.nn import init
from minigrad.testing.strict import StrictArray


class Net(nn.Module):
    """A direct Parameter, a nested Sequential (with a parameterless layer) and a list of heads."""

    def __init__(self, rng=0):
        self.scale = nn.Parameter(np.ones(1))
        self.body = nn.Sequential(nn.Linear(3, 4, rng=rng, dtype=np.float64), nn.ReLU(),
                                  nn.Sequential(nn.Linear(4, 2, bias=False, rng=rng, dtype=np.float64)))
        self.heads = [nn.Linear(2, 1, rng=rng, dtype=np.float64), nn.Linear(2, 1, rng=rng, dtype=np.float64)]
        self.not_a_module = [1, "two"]

    def forward(self, x):
        h = self.body(x) * self.scale
        return self.heads[0](h) + self.heads[1](h)


NET_NAMES = ["scale", "body.layers.0.weight", "body.layers.0.bias", "body.layers.2.layers.0.weight",
             "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]


def test_named_parameters_order_and_names():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    params = net.parameters()
    assert params[0] is net.scale
    assert params[1] is net.body[0].weight and params[3] is net.body[2][0].weight
    assert params[4] is net.heads[0].weight and params[7] is net.heads[1].bias
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert [p.shape for p in params] == [(1,), (4, 3), (4,), (2, 4), (1, 2), (1,), (1, 2), (1,)]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Sequential", "Linear", "ReLU", "Sequential",
                                                         "Linear", "Linear", "Linear"]


def test_state_dict_round_trip_restores_the_same_parameter_objects():
    net = Net()
    state = net.state_dict()
    assert list(state) == NET_NAMES
    assert all(isinstance(v, np.ndarray) for v in state.values())
    params, arrays = net.parameters(), [p.data for p in net.parameters()]
    before = {k: v.copy() for k, v in state.items()}
    for p in params:                       # training changes the parameters in place ...
        p.data[...] = 7.0
    assert all(np.array_equal(state[k], before[k]) for k in state)   # ... but not the snapshot
    net.load_state_dict(state)
    for (name, p), q, a in zip(net.named_parameters(), params, arrays):
        assert p is q and p.data is a      # the same objects, so an optimizer stays attached
        np.testing.assert_array_equal(p.data, before[name])


def test_state_dict_loads_into_a_fresh_model():
    a, b = Net(rng=1), Net(rng=2)
    assert not np.array_equal(a.body[0].weight.data, b.body[0].weight.data)
    b.load_state_dict(a.state_dict())
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_rejects_mismatches_clearly():
    net = Net()
    state = net.state_dict()
    missing = dict(state)
    del missing["heads.1.bias"]
    with pytest.raises(ValueError, match=r"missing \['heads.1.bias'\]"):
        net.load_state_dict(missing)
    extra = dict(state, **{"heads.2.bias": np.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected \['heads.2.bias'\]"):
        net.load_state_dict(extra)
    wrong = dict(state, **{"body.layers.0.weight": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=r"body.layers.0.weight: saved shape \(3, 4\) does not match the model's \(4, 3\)"):
        net.load_state_dict(wrong)


class ConvNet(nn.Module):
    def __init__(self):
        self.conv = nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=np.float64)
        self.bn = nn.BatchNorm2d(3, dtype=np.float64)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(3 * 4 * 4, 2, rng=0, dtype=np.float64)
        self.bn1 = nn.BatchNorm1d(2, dtype=np.float64)

    def forward(self, x):
        return self.bn1(self.fc(self.flat(mg.relu(self.bn(self.conv(x))))))


def test_buffers_are_in_the_state_dict_and_restored_in_place():
    net = ConvNet()
    assert [n for n, _ in net.named_buffers()] == ["bn.running_mean", "bn.running_var",
                                                   "bn1.running_mean", "bn1.running_var"]
    state = net.state_dict()
    assert {"bn.running_mean", "bn.running_var", "bn1.running_mean", "bn1.running_var"} <= set(state)
    assert "bn.running_mean" not in [n for n, _ in net.named_parameters()]
    buffer = net.bn.running_mean
    net(mg.tensor(np.random.default_rng(0).standard_normal((4, 2, 4, 4))))   # train mode: buffers move
    assert not np.array_equal(net.bn.running_mean, state["bn.running_mean"])
    net.load_state_dict(state)
    assert net.bn.running_mean is buffer
    np.testing.assert_array_equal(net.bn.running_mean, state["bn.running_mean"])
    np.testing.assert_array_equal(net.bn1.running_var, state["bn1.running_var"])


def test_train_and_eval_propagate_and_change_batch_norm():
    net = nn.Sequential(nn.Linear(3, 4, rng=0, dtype=np.float64), nn.Sequential(nn.BatchNorm1d(4, dtype=np.float64)))
    bn = net[1][0]
    assert all(m.training for m in net.modules())
    x = mg.tensor(np.random.default_rng(0).standard_normal((16, 3)) * 3 + 2)
    y = net(x).numpy()                                    # train: batch statistics, so each feature is centred
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-3)
    assert not np.array_equal(bn.running_mean, np.zeros(4))
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    h = net[0](x).numpy()
    np.testing.assert_allclose(net(x).numpy(), (h - rm) / np.sqrt(rv + bn.eps), rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, rm)    # eval leaves the buffers alone
    net.train()
    assert all(m.training for m in net.modules())


def test_to_strict_moves_parameters_and_buffers_and_trains_there():
    net_cpu, net = ConvNet(), ConvNet()
    params = net.parameters()
    assert net.to("strict") is net
    assert net.device.name == "strict"
    assert all(p is q for p, q in zip(net.parameters(), params))   # moved in place, same objects
    assert all(isinstance(p.data, StrictArray) for p in net.parameters())
    assert all(isinstance(b, StrictArray) for _, b in net.named_buffers())
    x_host = np.random.default_rng(0).standard_normal((4, 2, 4, 4))
    labels = np.array([0, 1, 1, 0])
    loss = F.cross_entropy(net(mg.tensor(x_host, device="strict")), mg.to_device(labels, "strict"))
    loss.backward()
    loss_cpu = F.cross_entropy(net_cpu(mg.tensor(x_host)), labels)
    loss_cpu.backward()
    np.testing.assert_allclose(loss.item(), loss_cpu.item(), rtol=1e-12)
    for p, q in zip(net.parameters(), net_cpu.parameters()):
        assert isinstance(p.grad.data, StrictArray)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (_, b), (_, c) in zip(net.named_buffers(), net_cpu.named_buffers()):
        np.testing.assert_allclose(mg.to_host(b), c, rtol=1e-12)
    state = net.state_dict()                     # always host copies
    assert all(type(v) is np.ndarray for v in state.values())
    net.load_state_dict(net_cpu.state_dict())    # host values loaded onto the device, in place
    assert all(isinstance(p.data, StrictArray) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- initializers -----------------------------------------------------------------------------------
BIG = (400, 600)


@pytest.mark.parametrize("name, std", [
    ("glorot_normal", np.sqrt(2.0 / (400 + 600))),
    ("glorot_uniform", np.sqrt(2.0 / (400 + 600))),
    ("he_normal", np.sqrt(2.0 / 600)),
    ("he_uniform", np.sqrt(2.0 / 600)),
])
def test_initializer_standard_deviation(name, std):
    w = init.get(name)(np.random.default_rng(0), BIG)
    assert w.shape == BIG and w.dtype == np.float32
    assert abs(w.std() / std - 1) < 0.02
    assert abs(w.mean()) < 0.02 * std


@pytest.mark.parametrize("name, limit", [("glorot_uniform", np.sqrt(6.0 / 1000)), ("he_uniform", np.sqrt(6.0 / 600))])
def test_uniform_initializer_bounds(name, limit):
    w = init.get(name)(np.random.default_rng(0), BIG, np.float64)
    assert w.min() >= -limit and w.max() <= limit
    assert w.min() < -0.99 * limit and w.max() > 0.99 * limit


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (5, 5), (4, 2, 3, 3)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    """Wide (and conv kernels, as (out, in·kh·kw)): Q Qᵀ = I. Tall: Qᵀ Q = I (Q Qᵀ cannot be I, its rank is too small)."""
    q = init.orthogonal(np.random.default_rng(0), shape, np.float64).reshape(shape[0], -1)
    assert q.shape[0] * q.shape[1] == int(np.prod(shape))
    rows, cols = q.shape
    if rows <= cols:
        np.testing.assert_allclose(q @ q.T, np.eye(rows), atol=1e-12)
    if rows >= cols:
        np.testing.assert_allclose(q.T @ q, np.eye(cols), atol=1e-12)
    q2 = init.orthogonal(np.random.default_rng(0), shape, np.float64, gain=2.0).reshape(rows, -1)
    np.testing.assert_allclose(q2, 2.0 * q, rtol=1e-12)


def test_conv_fans_and_he_normal_on_a_kernel():
    assert init.fans((8, 3, 3, 5)) == (3 * 15, 8 * 15)
    assert init.fans((6, 4)) == (4, 6)
    w = init.he_normal(np.random.default_rng(0), (64, 32, 3, 3))
    assert abs(w.std() / np.sqrt(2.0 / (32 * 9)) - 1) < 0.02
    w = init.glorot_normal(np.random.default_rng(0), (64, 32, 3, 3))
    assert abs(w.std() / np.sqrt(2.0 / ((32 + 64) * 9)) - 1) < 0.02


@pytest.mark.parametrize("name", sorted(set(init.INITIALIZERS) - {"zeros"}))
def test_same_seed_same_weights_different_seed_different_weights(name):
    a = nn.Linear(5, 4, init_weight=name, rng=3)
    b = nn.Linear(5, 4, init_weight=name, rng=3)
    c = nn.Linear(5, 4, init_weight=name, rng=4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    ca, cb = nn.Conv2d(2, 3, 3, init_weight=name, rng=3), nn.Conv2d(2, 3, 3, init_weight=name, rng=3)
    np.testing.assert_array_equal(ca.weight.data, cb.weight.data)
    np.testing.assert_array_equal(a.bias.data, np.zeros(4))


def test_unknown_initializer_is_a_value_error():
    with pytest.raises(ValueError, match="unknown initializer 'xavier'"):
        nn.Linear(2, 2, init_weight="xavier")


# --- layer shapes and bad inputs -------------------------------------------------------------------------

def test_layer_shapes(device):
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 3, 7, 6)), device=device)
    assert nn.Flatten()(x).shape == (2, 3 * 7 * 6)
    assert nn.Conv2d(3, 5, 3).to(device)(x.astype(np.float32)).shape == (2, 5, 5, 4)
    assert nn.Conv2d(3, 5, (3, 2), stride=2, padding=1).to(device)(x.astype(np.float32)).shape == (2, 5, 4, 4)
    conv = nn.Conv2d(3, 4, 2, bias=False)
    assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
    assert conv.weight.shape == (4, 3, 2, 2) and conv.weight.dtype == np.float32
    assert nn.BatchNorm2d(3, dtype=np.float64).to(device)(x).shape == (2, 3, 7, 6)
    assert nn.Linear(6, 2).to(device)(x[:, 0, 0].astype(np.float32)).shape == (2, 2)


def test_bad_input_shapes_are_value_errors():
    with pytest.raises(ValueError, match="BatchNorm2d expects 4-D input"):
        nn.BatchNorm2d(3)(mg.tensor(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match="BatchNorm1d expects 2-D input"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((2, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="conv2d expects"):
        nn.Conv2d(3, 4, 3)(mg.tensor(np.ones((2, 2, 5, 5), np.float32)))
    with pytest.raises(ValueError, match="linear expects"):
        nn.Linear(3, 4)(mg.tensor(np.ones((2, 5), np.float32)))
