"""The networks of docs/paper.md §2.3 (models/): parameter counts, skip matrices, forward semantics,
initialisation, BiasReg penalty and its exact Hessian, batch norm, conv nets, the record hook,
config round trips, error messages, and a gradient + HVP smoke test of every variant per device."""
import json
import re

import numpy
import pytest

import minigrad as mg
from minigrad import functional as F
from models import BIAS_TARGETS, DEFAULT_BIAS_LAMBDA, ConvNet, MLP, build, count_parameters, model_keys, objective
from models import skips
from minigrad.testing.strict import StrictArray

# Every fully connected variant of the paper, as MLP keyword arguments.
VARIANTS = {
    "plain": dict(skip="plain"),
    "residual": dict(skip="residual"),
    "hyperres": dict(skip="hyperres"),
    "ortho": dict(skip="residual", skip_matrix="ortho"),
    "k32": dict(skip="residual", skip_matrix="k32"),
    "k1": dict(skip="residual", skip_matrix="k1"),
    "beta0.01": dict(skip="residual", skip_matrix="beta0.01"),
    "beta-per-layer": dict(skip="residual", skip_matrix="beta0.025", skip_shared=False),
    "malicious": dict(skip="residual", init="malicious"),
    "biasreg-cifar10": dict(bias_reg="cifar10"),
    "biasreg-cifar100": dict(bias_reg="cifar100"),
    "biasl2": dict(bias_reg="l2"),
}


def flat(tensors):
    return numpy.concatenate([mg.to_host(t.data if isinstance(t, mg.Tensor) else t).ravel() for t in tensors])


# --- parameter counts ---------------------------------------------------------------------------

@pytest.mark.parametrize("depth, count", [(20, 709_652), (30, 874_772)])
@pytest.mark.parametrize("skip", ["plain", "residual"])
def test_parameter_counts_match_the_paper(depth, count, skip):
    model = MLP(inputs=3072, width=128, depth=depth, classes=20, skip=skip, rng=0)
    assert sum(p.size for p in model.parameters()) == count


@pytest.mark.parametrize("name", list(VARIANTS) + ["biasreg+bn"])
def test_every_variant_has_the_papers_parameter_count(name):
    """Fixed matrices and bias targets are buffers: 709,652 (20 layers) and 874,772 (30 layers) for all
    variants; one batch-norm layer adds its γ and β (2·128)."""
    kwargs = dict(bias_reg="cifar100", bn_layer=15) if name == "biasreg+bn" else VARIANTS[name]
    extra = 256 if name == "biasreg+bn" else 0
    for depth, count in ((20, 709_652), (30, 874_772)):
        model = MLP(inputs=3072, width=128, depth=depth, classes=20, rng=0, **kwargs)
        assert count_parameters(model) == count + extra


@pytest.mark.parametrize("skip", ["plain", "residual", "hyperres"])
def test_small_and_shallow_nets(skip):
    """Supp. Note 4: 10 × 16 on 128 PCA inputs, 20 classes: 4,852. Supp. Note 7: 2 × 16 (raw or PCA inputs)."""
    assert count_parameters(MLP(inputs=128, width=16, depth=10, classes=20, skip=skip, rng=0)) == 4_852
    if skip != "hyperres":   # hyperres needs depth >= 3
        assert count_parameters(MLP(inputs=3072, width=16, depth=2, classes=20, skip=skip, rng=0)) == 49_780
        assert count_parameters(MLP(inputs=128, width=16, depth=2, classes=20, skip=skip, rng=0)) == 2_676


# --- skip matrices ------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", skips.PAPER_BETAS + (0.05,))
def test_beta_matrices_have_their_eigenvalues_on_the_unit_circle(beta):
    sigma = skips.beta_correlated(128, beta, numpy.random.default_rng(3), numpy.float64)
    assert numpy.all(numpy.isreal(sigma))
    numpy.testing.assert_allclose(numpy.abs(numpy.linalg.eigvals(sigma)), 1.0, atol=1e-8)


def test_beta_zero_is_orthogonal_and_larger_beta_is_not():
    rng = numpy.random.default_rng(4)
    s0 = skips.beta_correlated(128, 0.0, rng, numpy.float64)
    numpy.testing.assert_allclose(s0.T @ s0, numpy.eye(128), atol=1e-12)
    deviation = []
    for beta in (0.005, 0.025):
        s = skips.beta_correlated(128, beta, numpy.random.default_rng(4), numpy.float64)
        deviation.append(numpy.linalg.norm(s.T @ s - numpy.eye(128)))
    assert 1e-3 < deviation[0] < deviation[1]      # more correlated eigenvectors, further from orthogonal


def test_beta_construction_follows_supp_note_6():
    """Σ = T O T⁻¹ with T the Cholesky factor of the correlation of Q Λ Qᵀ: rebuild it from the same draws."""
    n, beta = 16, 0.1
    sigma = skips.beta_correlated(n, beta, numpy.random.default_rng(5), numpy.float64)
    rng = numpy.random.default_rng(5)
    q, o = skips.dense_orthogonal(n, rng, numpy.float64), skips.dense_orthogonal(n, rng, numpy.float64)
    s = q @ numpy.diag(numpy.exp(-beta * numpy.arange(n))) @ q.T
    d = numpy.diag(1 / numpy.sqrt(numpy.diag(s)))
    t = numpy.linalg.cholesky(d @ s @ d)
    numpy.testing.assert_allclose(sigma, t @ o @ numpy.linalg.inv(t), atol=1e-12)


@pytest.mark.parametrize("k", skips.valid_k(128))
def test_k_matrices_have_k_distinct_orthonormal_columns(k):
    m = skips.reduced_orthogonal(128, k, numpy.random.default_rng(6), numpy.float64)
    distinct = numpy.unique(m.T, axis=0)
    assert len(distinct) == k
    numpy.testing.assert_allclose(distinct @ distinct.T, numpy.eye(k), atol=1e-12)   # unit and orthonormal
    numpy.testing.assert_array_equal(m, m[:, numpy.arange(128) % k])                  # halving: column j = j mod k
    if k == 128:   # no halving: the dense orthogonal matrix of the same draw
        numpy.testing.assert_array_equal(m, skips.dense_orthogonal(128, numpy.random.default_rng(6), numpy.float64))


def test_valid_k_and_named_matrices():
    assert skips.valid_k(128) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert skips.valid_k(96) == [3, 6, 12, 24, 48, 96]
    rng = numpy.random.default_rng(0)
    numpy.testing.assert_array_equal(skips.make("identity", 8, rng), numpy.eye(8))
    o = skips.make("ortho", 8, rng, numpy.float64)
    numpy.testing.assert_allclose(o @ o.T, numpy.eye(8), atol=1e-12)
    assert skips.make("k2", 8, rng).dtype == numpy.float32
    m = skips.reduced_orthogonal(96, 3, rng, numpy.float64)                 # odd k, reached by halving 96
    numpy.testing.assert_array_equal(m, m[:, numpy.arange(96) % 3])
    assert len(numpy.unique(m.T, axis=0)) == 3
    assert [skips.canonical(s, 128) for s in ("k032", "beta1e-2", "beta0", "ortho")] == \
        ["k32", "beta0.01", "beta0.0", "ortho"]
    assert MLP(inputs=4, width=8, depth=3, classes=2, skip="residual", skip_matrix="beta.02", rng=0) \
        .config["skip_matrix"] == "beta0.02"
    with pytest.raises(ValueError, match="cannot be reached by halving"):
        skips.reduced_orthogonal(128, 48, rng)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        skips.beta_correlated(8, -0.1, rng)


# --- forward semantics ----------------------------------------------------------------------------

def reference_forward(model, x):
    """docs/paper.md §2.3 written out in NumPy from the model's state: the spec the engine forward must match."""
    state, c = model.state_dict(), model.config
    depth = c["depth"]
    xs = [x]
    for l in range(depth):
        h = numpy.maximum(xs[l] @ state[f"hidden.{l}.weight"].T + state[f"hidden.{l}.bias"], 0)
        if l > 0 and c["skip"] != "plain":
            if "skip_q.0.matrix" in state:
                q = state["skip_q.0.matrix"] if c["skip_shared"] else state[f"skip_q.{l - 1}.matrix"]
            else:
                q = numpy.eye(c["width"])
            h = h + xs[l] @ q.T
            if c["skip"] == "hyperres":
                for k in range(1, l):                                   # Σ_{k=1}^{l-1} Q_k x_k
                    h = h + xs[k] @ state[f"hyper_q.{k - 1}.matrix"].T
        xs.append(h)
    return xs[-1] @ state["output.weight"].T + state["output.bias"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_forward_matches_the_papers_equations(name):
    kwargs = dict(VARIANTS[name])
    if kwargs.get("skip") == "hyperres":
        kwargs["hyper_matrix"] = "ortho"
    if kwargs.get("skip_matrix") == "k32":
        kwargs["skip_matrix"] = "k4"
    model = MLP(inputs=5, width=8, depth=6, classes=3, rng=1, dtype=numpy.float64, **kwargs)
    r = numpy.random.default_rng(2)
    for layer in model.hidden:            # non-zero biases, so every ReLU pattern is exercised
        layer.bias.data[...] = r.standard_normal(layer.bias.shape)
    x = r.standard_normal((7, 5))
    numpy.testing.assert_allclose(model(mg.tensor(x)).numpy(), reference_forward(model, x), rtol=1e-12, atol=1e-12)


def test_residual_adds_skip_after_relu_and_none_from_the_input():
    """With every weight zero and bias b, plain gives relu(b) per layer; residual accumulates them."""
    model = MLP(inputs=3, width=2, depth=4, classes=2, skip="residual", rng=0, dtype=numpy.float64)
    for layer in model.hidden:
        layer.weight.data[...] = 0.0
        layer.bias.data[...] = [1.0, -1.0]
    model.output.weight.data[...] = numpy.eye(2)
    out = model(mg.tensor(numpy.ones((1, 3)))).numpy()
    # x1 = relu(b) = [1, 0] (no skip from the input), then three layers each add relu(b): [4, 0]
    numpy.testing.assert_allclose(out, [[4.0, 0.0]])
    model.skip = "plain"
    numpy.testing.assert_allclose(model(mg.tensor(numpy.ones((1, 3)))).numpy(), [[1.0, 0.0]])


def test_hyperres_sums_every_earlier_layer():
    """Zero weights, bias b, identity Q_k: x_1 = r, x_2 = r + x_1, x_{l+1} = r + x_l + Σ_{k<l} x_k = 2^l r."""
    model = MLP(inputs=3, width=2, depth=5, classes=2, skip="hyperres", hyper_matrix="identity", rng=0,
                dtype=numpy.float64)
    for layer in model.hidden:
        layer.weight.data[...] = 0.0
        layer.bias.data[...] = [1.0, -1.0]
    model.output.weight.data[...] = numpy.eye(2)
    record = []
    out = model(mg.tensor(numpy.ones((1, 3))), record=record).numpy()
    assert [r["out"].numpy()[0, 0] for r in record] == [1, 2, 4, 8, 16]
    numpy.testing.assert_allclose(out, [[16.0, 0.0]])


def test_skip_matrix_is_applied_to_the_previous_layer():
    """x_{l+1} = f(W x_l + b) + Q x_l: with zero weights the skip carries Q x_l."""
    model = MLP(inputs=2, width=2, depth=3, classes=2, skip="residual", skip_matrix="ortho", rng=0,
                dtype=numpy.float64)
    q = numpy.array([[0.0, 1.0], [1.0, 0.0]])
    model.skip_q[0].matrix[...] = q
    for layer in model.hidden:
        layer.weight.data[...] = 0.0
        layer.bias.data[...] = [1.0, 0.0]
    record = []
    model(mg.tensor(numpy.ones((1, 2))), record=record)
    # x1 = [1, 0]; x2 = [1, 0] + Q x1 = [1, 1]; x3 = [1, 0] + Q x2 = [2, 1]
    assert [r["out"].numpy()[0].tolist() for r in record] == [[1, 0], [1, 1], [2, 1]]


def test_shared_and_per_layer_skip_matrices_are_buffers():
    shared = MLP(inputs=4, width=8, depth=5, classes=2, skip="residual", skip_matrix="beta0.02", rng=0)
    per_layer = MLP(inputs=4, width=8, depth=5, classes=2, skip="residual", skip_matrix="beta0.02", rng=0,
                    skip_shared=False)
    hyper = MLP(inputs=4, width=8, depth=5, classes=2, skip="hyperres", rng=0)
    assert [n for n, _ in shared.named_buffers()] == ["skip_q.0.matrix"]
    assert [n for n, _ in per_layer.named_buffers()] == [f"skip_q.{i}.matrix" for i in range(4)]
    assert [n for n, _ in hyper.named_buffers()] == [f"hyper_q.{i}.matrix" for i in range(3)]   # Q_1 .. Q_{L-2}
    mats = [b for _, b in per_layer.named_buffers()]
    assert not numpy.allclose(mats[0], mats[1])                                     # independent draws
    assert all(len(numpy.unique(b.T, axis=0)) == 2 for _, b in hyper.named_buffers())   # k{width//4} = k2
    # Same seed: the same weights whatever the skip (weights are drawn first).
    plain = MLP(inputs=4, width=8, depth=5, classes=2, rng=0).state_dict()
    for model in (shared, per_layer, hyper):
        state = model.state_dict()
        assert all(numpy.array_equal(plain[k], state[k]) for k in plain)
    keys = list(plain)
    assert keys[:2] == ["hidden.0.weight", "hidden.0.bias"] and keys[-2:] == ["output.weight", "output.bias"]


# --- initialisation ---------------------------------------------------------------------------------

def test_glorot_normal_start_and_unknown_skip():
    model = MLP(inputs=128, width=128, depth=3, classes=20, rng=0)
    w = model.hidden[1].weight.numpy()
    assert abs(w.std() - numpy.sqrt(2 / 256)) < 0.05 * numpy.sqrt(2 / 256)
    assert all(numpy.all(layer.bias.numpy() == 0) for layer in model.hidden)
    with pytest.raises(ValueError, match="unknown skip type"):
        MLP(skip="dense")


def test_malicious_init_is_glorot_minus_identity_on_square_layers_only():
    good = MLP(inputs=20, width=8, depth=4, classes=3, skip="residual", rng=5).state_dict()
    bad = MLP(inputs=20, width=8, depth=4, classes=3, skip="residual", init="malicious", rng=5).state_dict()
    numpy.testing.assert_array_equal(bad["hidden.0.weight"], good["hidden.0.weight"])       # 8 × 20: left alone
    for l in range(1, 4):
        numpy.testing.assert_allclose(bad[f"hidden.{l}.weight"], good[f"hidden.{l}.weight"] - numpy.eye(8))
    for name in ["output.weight", "output.bias"] + [f"hidden.{l}.bias" for l in range(4)]:
        numpy.testing.assert_array_equal(bad[name], good[name])


# --- BiasReg --------------------------------------------------------------------------------------

def test_bias_targets_follow_the_papers_table():
    assert BIAS_TARGETS["cifar10"] == (0.51, 0.96) and BIAS_TARGETS["cifar100"] == (0.91, 0.03)
    for name, (mu, sigma) in BIAS_TARGETS.items():
        model = MLP(inputs=16, width=128, depth=30, classes=20, bias_reg=name, rng=0, dtype=numpy.float64)
        t = model.bias_targets
        assert t.shape == (30, 128) and model.bias_lambda == DEFAULT_BIAS_LAMBDA
        assert abs(t.mean() - mu) <= 4 * sigma / numpy.sqrt(t.size) + 1e-12
        assert abs(t.std() - sigma) <= 0.05 * sigma + 1e-12
    custom = MLP(inputs=4, width=4, depth=2, classes=2, bias_reg=(2.0, 0.0), bias_lambda=0.5, rng=0)
    numpy.testing.assert_array_equal(custom.bias_targets, 2.0)
    assert MLP(inputs=4, width=4, depth=2, classes=2, rng=0).penalty() is None


def test_penalty_value_and_objective():
    model = MLP(inputs=6, width=5, depth=3, classes=4, bias_reg="cifar10", bias_lambda=0.3, rng=0,
                dtype=numpy.float64)
    r = numpy.random.default_rng(1)
    for layer in model.hidden:
        layer.bias.data[...] = r.standard_normal(5)
    b = numpy.stack([layer.bias.numpy() for layer in model.hidden])
    expected = 0.3 * ((b - model.bias_targets) ** 2).sum()
    assert model.penalty().item() == pytest.approx(expected, rel=1e-12)
    x, y = mg.tensor(r.standard_normal((9, 6))), r.integers(0, 4, 9)
    ce = F.cross_entropy(model(x), y).item()
    assert objective(model, x, y).item() == pytest.approx(ce + expected, rel=1e-12)
    assert objective(model, x, y, penalty=False).item() == pytest.approx(ce, rel=1e-12)
    l2 = MLP(inputs=6, width=5, depth=3, classes=4, bias_reg="l2", rng=0, dtype=numpy.float64)
    assert numpy.all(l2.bias_targets == 0) and l2.penalty().item() == 0.0


@pytest.mark.parametrize("method", mg.hvp_methods)
def test_penalty_hessian_is_two_lambda_on_biases(method, device):
    lam = 0.37
    model = MLP(inputs=6, width=5, depth=4, classes=3, skip="residual", bias_reg="cifar100", bias_lambda=lam,
                bn_layer=2, rng=0, dtype=numpy.float64).to(device)
    params = model.parameters()
    names = [n for n, _ in model.named_parameters()]
    r = numpy.random.default_rng(3)
    v = [r.standard_normal(p.shape) for p in params]
    hv = mg.hvp(model.penalty, params, [mg.to_device(a, device) for a in v], method)
    for name, h, a in zip(names, hv, v):
        expected = 2 * lam * a if name.startswith("hidden.") and name.endswith(".bias") else 0 * a
        numpy.testing.assert_allclose(mg.to_host(h.data), expected, rtol=1e-13, atol=1e-15)
    # and the objective's Hessian is the cross-entropy's plus that
    x = mg.tensor(r.standard_normal((8, 6)), device=device)
    y = mg.to_device(r.integers(0, 3, 8), device)
    model.eval()
    full = flat(mg.hvp(lambda: objective(model, x, y), params, [mg.to_device(a, device) for a in v], method))
    ce = flat(mg.hvp(lambda: objective(model, x, y, penalty=False), params, [mg.to_device(a, device) for a in v],
                     method))
    numpy.testing.assert_allclose(full - ce, flat(hv), atol=1e-12)


# --- batch norm -------------------------------------------------------------------------------------

def test_batch_norm_sits_on_the_pre_activation_of_its_layer():
    model = MLP(inputs=6, width=5, depth=4, classes=3, bias_reg="cifar100", bn_layer=3, rng=0, dtype=numpy.float64)
    assert [n for n, _ in model.named_parameters()][-2:] == ["bn.gamma", "bn.beta"]
    r = numpy.random.default_rng(0)
    x = mg.tensor(r.standard_normal((64, 6)) * 3 + 1)
    record = []
    model(x, record=record)                                    # train mode: the batch's own statistics
    pre = record[2]["pre"].numpy()
    numpy.testing.assert_allclose(pre.mean(0), 0, atol=1e-12)
    numpy.testing.assert_allclose(pre.var(0), 1, rtol=1e-3)
    lin = model.hidden[2](record[1]["out"]).numpy()           # what the BN layer normalised
    numpy.testing.assert_allclose(pre, (lin - lin.mean(0)) / numpy.sqrt(lin.var(0) + 1e-5), atol=1e-12)
    numpy.testing.assert_allclose(record[2]["relu"].numpy(), numpy.maximum(pre, 0))
    assert abs(record[1]["pre"].numpy().mean(0)).max() > 1e-3     # other layers are not normalised
    assert not numpy.allclose(model.bn.running_mean, 0)           # running statistics moved


def test_batch_norm_train_and_eval_modes():
    model = MLP(inputs=6, width=5, depth=4, classes=3, bn_layer=1, rng=0, dtype=numpy.float64)
    r = numpy.random.default_rng(1)
    x = r.standard_normal((32, 6))
    model(mg.tensor(x))
    model(mg.tensor(x))
    mean, var = model.bn.running_mean.copy(), model.bn.running_var.copy()
    model.eval()
    assert not model.bn.training
    record = []
    full = model(mg.tensor(x), record=record).numpy()
    numpy.testing.assert_array_equal(model.bn.running_mean, mean)                 # eval does not update
    lin = model.hidden[0](mg.tensor(x)).numpy()
    numpy.testing.assert_allclose(record[0]["pre"].numpy(), (lin - mean) / numpy.sqrt(var + 1e-5), atol=1e-12)
    numpy.testing.assert_allclose(model(mg.tensor(x[:3])).numpy(), full[:3], atol=1e-12)   # per example
    model.train()
    assert not numpy.allclose(model(mg.tensor(x[:3])).numpy(), full[:3])            # batch statistics again


# --- conv nets --------------------------------------------------------------------------------------

def test_conv_net_shapes_and_record():
    model = ConvNet(blocks=2, widths=(4, 8, 16), classes=10, skip="residual", rng=0)
    record = []
    out = model(mg.tensor(numpy.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(numpy.float32)),
                record=record)
    assert out.shape == (2, 10)
    assert [r["out"].shape[1:] for r in record] == [(4, 32, 32)] * 3 + [(8, 16, 16)] * 2 + [(16, 8, 8)] * 2
    assert all(r["pre"].shape == r["relu"].shape == r["out"].shape for r in record)
    default = ConvNet(rng=0)
    assert len(default.convs) == 10 and len(default.bns) == 0
    assert count_parameters(ConvNet(blocks=1, widths=(4, 8), classes=10, batch_norm=True, rng=0)) == \
        count_parameters(ConvNet(blocks=1, widths=(4, 8), classes=10, rng=0)) + 2 * (4 + 4 + 8)


def test_conv_plain_and_residual_differ_only_in_the_skip():
    plain = ConvNet(blocks=1, widths=(3, 6), classes=5, skip="plain", rng=2, dtype=numpy.float64)
    res = ConvNet(blocks=1, widths=(3, 6), classes=5, skip="residual", rng=2, dtype=numpy.float64)
    a, b = plain.state_dict(), res.state_dict()
    assert a.keys() == b.keys() and all(numpy.array_equal(a[k], b[k]) for k in a)
    x = mg.tensor(numpy.random.default_rng(1).standard_normal((2, 3, 9, 9)))
    rp, rr = [], []
    assert not numpy.allclose(plain(x, record=rp).numpy(), res(x, record=rr).numpy())
    numpy.testing.assert_array_equal(rp[0]["out"].numpy(), rr[0]["out"].numpy())    # stem: no skip from the input
    # layer 1 (3 -> 3, stride 1): identity; layer 2 (3 -> 6, stride 2): subsample and zero channels
    x1, x2 = rr[0]["out"].numpy(), rr[1]["out"].numpy()
    numpy.testing.assert_allclose(x2 - rr[1]["relu"].numpy(), x1)
    shortcut = numpy.concatenate([x2[:, :, ::2, ::2], numpy.zeros((2, 3, 5, 5))], axis=1)
    numpy.testing.assert_allclose(rr[2]["out"].numpy() - rr[2]["relu"].numpy(), shortcut)
    assert rr[2]["out"].shape == (2, 6, 5, 5)


# --- the record hook --------------------------------------------------------------------------------

def test_record_hook_gives_per_layer_tensors_on_the_graph():
    model = MLP(inputs=7, width=6, depth=5, classes=3, skip="hyperres", hyper_matrix="k3", rng=0, dtype=numpy.float64)
    r = numpy.random.default_rng(0)
    x, y = mg.tensor(r.standard_normal((4, 7))), r.integers(0, 3, 4)
    record = []
    logits = model(x, record=record)
    assert len(record) == 5 and all(set(d) == {"pre", "relu", "out"} for d in record)
    assert all(t.shape == (4, 6) for d in record for t in d.values())
    numpy.testing.assert_array_equal(model.output(record[-1]["out"]).numpy(), logits.numpy())
    numpy.testing.assert_array_equal(logits.numpy(), model(x).numpy())     # recording changes nothing
    loss = F.cross_entropy(logits, y)
    grads = mg.grad(loss, [d["out"] for d in record])
    assert [g.shape for g in grads] == [(4, 6)] * 5
    # ∂L/∂x_L is the output layer's transpose applied to ∂L/∂logits
    (g_logits,) = mg.grad(loss, [logits])
    numpy.testing.assert_allclose(grads[-1].numpy(), g_logits.numpy() @ model.output.weight.numpy(), atol=1e-14)


# --- configs ----------------------------------------------------------------------------------------

CONFIGS = [
    dict(inputs=10, width=8, depth=4, classes=3, skip="plain", seed=1),
    dict(inputs=10, width=8, depth=4, classes=3, skip="residual", skip_matrix="k4", seed=2),
    dict(inputs=10, width=8, depth=4, classes=3, skip="residual", skip_matrix="beta0.01", skip_shared=False, seed=3),
    dict(inputs=10, width=8, depth=4, classes=3, skip="hyperres", seed=4, dtype="float64"),
    dict(inputs=10, width=8, depth=4, classes=3, skip="residual", init="malicious", seed=5),
    dict(inputs=10, width=8, depth=4, classes=3, bias_reg="cifar100", bn_layer=2, seed=6),
    dict(inputs=10, width=8, depth=4, classes=3, bias_reg=[0.2, 0.1], bias_lambda=0.01, seed=7),
    dict(arch="conv", blocks=1, widths=[2, 4], classes=3, skip="residual", batch_norm=True, seed=8),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_build_round_trips_through_json(config):
    model = build(config)
    saved = json.loads(json.dumps(model.config))
    assert set(saved) == set(model_keys(saved["arch"]))
    again = build(saved)
    assert again.config == saved
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(numpy.array_equal(a[k], b[k]) for k in a)
    assert all(v == saved[k] or (k == "bias_reg" and saved[k] == list(BIAS_TARGETS[v])) for k, v in config.items())


def test_build_defaults_and_generator_seeds():
    assert build({}).config["depth"] == 30 and build({}).config["skip"] == "plain"
    assert MLP(inputs=4, width=4, depth=2, classes=2, rng=numpy.random.default_rng(0)).config["seed"] is None
    m = build(dict(arch="mlp", inputs=4, width=4, depth=2, classes=2, seed=9))
    assert m.config["seed"] == 9 and isinstance(m, MLP)
    # keyword overrides, as the training loop passes them (dtype may be a NumPy dtype)
    o = build(dict(depth=3, width=4, inputs=5, classes=2, seed=1), seed=2, dtype=numpy.dtype("float64"))
    assert o.config["seed"] == 2 and o.config["dtype"] == "float64" and o.hidden[0].weight.dtype == numpy.float64


BAD = [
    (dict(skip="dense"), "unknown skip type 'dense'; choose one of: plain, residual, hyperres"),
    (dict(skip="plain", skip_matrix="ortho"), "plain net has no skip connections"),
    (dict(skip="residual", skip_matrix="k256"), "unknown skip matrix 'k256' for width 128; choose one of"),
    (dict(skip="residual", skip_matrix="k48"), "k<N> with N in 1, 2, 4, 8, 16, 32, 64, 128"),
    (dict(skip="residual", skip_matrix="beta-1"), "unknown skip matrix"),
    (dict(skip="residual", skip_matrix="orthogonal"), "unknown skip matrix"),
    (dict(skip="residual", width=16, skip_matrix="k32"), "N in 1, 2, 4, 8, 16,"),
    (dict(skip="hyperres", depth=2), "hyper-residual net needs depth >= 3"),
    (dict(skip="residual", depth=1), "residual net needs depth >= 2"),
    (dict(skip="hyperres", skip_matrix="ortho"), "always the identity"),
    (dict(skip="hyperres", hyper_matrix="k3"), "unknown hyper_matrix 'k3'"),
    (dict(skip="hyperres", width=6), "width divisible by 4"),
    (dict(skip="residual", hyper_matrix="k32"), "hyper_matrix applies only to skip='hyperres'"),
    (dict(skip="residual", skip_shared=False), "skip_shared=False"),
    (dict(skip="plain", init="malicious"), "malicious init subtracts I"),
    (dict(skip="residual", skip_matrix="ortho", init="malicious"), "malicious init subtracts I"),
    (dict(init="he"), "unknown init 'he'; choose one of: glorot_normal, malicious"),
    (dict(bias_reg="cifar1000"), "bias_reg must be None, a name in cifar10, cifar100, l2"),
    (dict(bias_reg=(0.5, -1.0)), "bias_reg must be None"),
    (dict(bias_lambda=0.1), "bias_lambda needs a bias_reg"),
    (dict(bias_reg="l2", bias_lambda=-1.0), "bias_lambda must be a finite number >= 0"),
    (dict(bn_layer=31), "bn_layer must be None or a hidden layer number from 1 to 30"),
    (dict(bn_layer=0), "from 1 to 30"),
    (dict(depth=0), "depth must be an integer >= 1"),
    (dict(width=2.5), "width must be an integer >= 1"),
    (dict(dtype="float16"), "dtype must be float32 or float64"),
]


def _one_sentence(message):
    return message.endswith(".") and "\n" not in message and not re.search(r"[.;]\s+[A-Z]", message)


@pytest.mark.parametrize("kwargs, match", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_arguments_raise_one_clear_sentence(kwargs, match):
    with pytest.raises(ValueError) as info:
        MLP(rng=0, **kwargs)
    assert match in str(info.value) and _one_sentence(str(info.value)), str(info.value)
    with pytest.raises(ValueError) as again:            # build reports the same
        build(dict(kwargs, seed=0))
    assert str(again.value) == str(info.value)


CONV_BAD = [
    (dict(skip="hyperres"), "unknown skip type 'hyperres' for a conv net; choose one of: plain, residual"),
    (dict(widths=(16, 8)), "non-decreasing sequence of positive channel counts"),
    (dict(widths=()), "non-decreasing"),
    (dict(blocks=0), "blocks must be an integer >= 1"),
    (dict(init="he"), "unknown init 'he' for a conv net; choose one of: glorot_normal, he_normal, malicious"),
    (dict(init="malicious"), "needs skip='residual'"),
    (dict(batch_norm="yes"), "batch_norm must be True or False"),
]


@pytest.mark.parametrize("kwargs, match", CONV_BAD, ids=[m[:30] for _, m in CONV_BAD])
def test_bad_conv_arguments_raise_one_clear_sentence(kwargs, match):
    with pytest.raises(ValueError) as info:
        ConvNet(rng=0, **kwargs)
    assert match in str(info.value) and _one_sentence(str(info.value)), str(info.value)


@pytest.mark.parametrize("config, match", [
    (dict(arch="transformer"), "unknown arch 'transformer'; choose one of: mlp, conv"),
    (dict(depth=3, skip_matirx="ortho"), "unknown config keys ['skip_matirx'] for arch 'mlp'; valid keys are:"),
    (dict(arch="conv", bn_layer=2), "unknown config keys ['bn_layer'] for arch 'conv'"),
])
def test_bad_configs_raise_one_clear_sentence(config, match):
    with pytest.raises(ValueError) as info:
        build(config)
    assert match in str(info.value) and _one_sentence(str(info.value)), str(info.value)


# --- every variant on every device: forward, gradient, exact HVP -----------------------------------

SMOKE = {name: dict(kw) for name, kw in VARIANTS.items()}
SMOKE["hyperres"]["hyper_matrix"] = "k2"
SMOKE["k32"]["skip_matrix"] = "k4"
SMOKE["biasreg+bn-train"] = dict(bias_reg="cifar100", bn_layer=2)
SMOKE["biasreg+bn-eval"] = dict(bias_reg="cifar100", bn_layer=2)
SMOKE["conv-plain"] = dict(arch="conv", skip="plain")
SMOKE["conv-residual"] = dict(arch="conv", skip="residual")
SMOKE["conv-residual-bn"] = dict(arch="conv", skip="residual", batch_norm=True)


@pytest.mark.parametrize("name", list(SMOKE))
def test_every_variant_runs_and_has_exact_hvps_on_device(name, device):
    kw = dict(SMOKE[name])
    r = numpy.random.default_rng(0)
    if kw.pop("arch", "mlp") == "conv":
        model = ConvNet(blocks=1, widths=(2, 4), classes=3, rng=0, dtype=numpy.float64, **kw).to(device)
        x = mg.tensor(r.standard_normal((3, 3, 6, 6)), device=device)
    else:
        model = MLP(inputs=6, width=8, depth=4, classes=3, rng=0, dtype=numpy.float64, **kw).to(device)
        x = mg.tensor(r.standard_normal((5, 6)), device=device)
    model.train(not name.endswith("-eval"))
    assert all(b.__class__ is mg.get_device(device).array_type for _, b in model.named_buffers())
    y = mg.to_device(r.integers(0, 3, x.shape[0]), device)
    params = model.parameters()
    record = []
    loss = objective(model, x, y) if not name.startswith("conv") else F.cross_entropy(model(x, record=record), y)
    grads = mg.grad(loss, params)
    assert numpy.isfinite(flat(grads)).all() and numpy.linalg.norm(flat(grads)) > 0
    v = [mg.to_device(r.standard_normal(p.shape), device) for p in params]
    a = flat(mg.hvp(lambda: objective(model, x, y), params, v, "fwd-rev"))
    b = flat(mg.hvp(lambda: objective(model, x, y), params, v, "rev-rev"))
    assert numpy.linalg.norm(a - b) <= 1e-10 * numpy.linalg.norm(b) and numpy.linalg.norm(b) > 0


def test_strict_device_buffers_and_state_dict():
    model = MLP(inputs=6, width=8, depth=4, classes=3, skip="hyperres", hyper_matrix="ortho", bias_reg="cifar10",
                bn_layer=3, rng=0).to("strict")
    names = [n for n, _ in model.named_buffers()]
    assert names == ["bias_targets", "hyper_q.0.matrix", "hyper_q.1.matrix", "bn.running_mean", "bn.running_var"]
    assert all(isinstance(b, StrictArray) for _, b in model.named_buffers())
    state = model.state_dict()
    assert all(isinstance(v, numpy.ndarray) for v in state.values())
    fresh = MLP(inputs=6, width=8, depth=4, classes=3, skip="hyperres", hyper_matrix="ortho", bias_reg="cifar10",
                bn_layer=3, rng=1)
    fresh.load_state_dict(state)
    assert all(numpy.array_equal(fresh.state_dict()[k], state[k]) for k in state)
