"""Per-layer Hessian spectra (analysis/spectra/blocks.py): diagonal blocks of H and their leakage, float64, tiny nets.

Each block operator is checked against the diagonal block of the dense Hessian (exact spectrum, Skilling's
moments, Lanczos coefficients), the leakage against a loss that separates over two parameter groups and
one that does not, and the batched (stacked) products against one block at a time, bit for bit.
"""
import warnings

import numpy
import pytest

import minigrad as mg
from minigrad import nn
from analysis.spectra import HessianOperator, exact_spectrum
from analysis.spectra.blocks import (BlockOperator, BlockProducts, check_per_layer, layer_blocks, leakage,
                                     named_blocks, per_layer_spectra, planned_products)
from analysis.spectra.lanczos import LanczosBreakdown, lanczos
from analysis.spectra.moments import estimate_moments
from analysis.spectra.slq import slq_spectrum
from models import build

SMALL = dict(inputs=6, width=4, depth=3, classes=4, dtype="float64", seed=1)


def _data(n=40, inputs=6, classes=4):
    rng = numpy.random.default_rng(0)
    return rng.standard_normal((n, inputs)), rng.integers(0, classes, n)


def _operator(device="cpu", **extra):
    net = build(dict(SMALL, **extra)).to(device)
    x, y = _data()
    return net, HessianOperator(net, x, y, batch_size=16)


class Dense:
    """A host matrix as an operator on `device` (what the spectral methods ask of one)."""

    def __init__(self, matrix, device):
        self.matrix = mg.to_device(numpy.asarray(matrix, numpy.float64), device)
        self.device, self.dim = device, len(matrix)

    def matvec(self, v):
        return self.matrix @ mg.to_device(v, self.device)

    def dense(self):
        return self.matrix


def _blocks(net):
    """One block per layer, and a named group of parameters that are not next to each other in the flat vector."""
    return layer_blocks(net) + named_blocks(net, {"biases": ["hidden.0.bias", "hidden.2.bias", "output.bias"]})


def test_blocks_are_the_layers_of_the_net():
    net = build(dict(SMALL, skip="residual", bn_layer=2, branch_init="skipinit"))
    names = [b.name for b in layer_blocks(net)]
    assert names == ["hidden.0", "hidden.1", "hidden.2", "output", "bn", "gains.0", "gains.1"]
    first = layer_blocks(net)[0]
    assert first.params == ("hidden.0.weight", "hidden.0.bias") and first.dim == 4 * 6 + 4
    assert first.slice == slice(0, 28)
    early = named_blocks(net, {"early": ["hidden.0", "hidden.1"]})[0]
    assert early.dim == 28 + 20 and early.slice == slice(0, 48)
    with pytest.raises(ValueError, match="no parameter or layer named 'hidden.9'; its layers are hidden.0, "):
        named_blocks(net, {"late": ["hidden.9"]})
    with pytest.raises(ValueError, match="hidden.0.bias is in two groups, 'a' and 'b'"):
        named_blocks(net, {"a": ["hidden.0"], "b": ["hidden.0.bias"]})


def test_each_blocks_exact_spectrum_is_the_dense_hessians_diagonal_block(device):
    net, operator = _operator(device, skip="residual", bias_reg="cifar10")
    dense = mg.to_host(operator.dense())
    for block in _blocks(net):
        square = dense[numpy.ix_(block.index, block.index)]
        result = exact_spectrum(BlockOperator(operator, block))
        assert result["n"] == block.dim and result["operator"]["block"] == block.name
        numpy.testing.assert_allclose(result["eigenvalues"], numpy.linalg.eigvalsh(square), rtol=1e-10, atol=1e-13)


def test_block_moments_and_lanczos_coefficients_are_the_dense_blocks(device):
    net, operator = _operator(device, skip="hyperres")
    dense = mg.to_host(operator.dense())
    for block in _blocks(net):
        reference = Dense(dense[numpy.ix_(block.index, block.index)], device)
        single = BlockOperator(operator, block)
        numpy.testing.assert_allclose(estimate_moments(single, probes=3, seed=5).probe_moments,
                                      estimate_moments(reference, probes=3, seed=5).probe_moments,
                                      rtol=1e-9, atol=1e-14)
        start = mg.to_device(numpy.random.default_rng(2).standard_normal(block.dim), device)
        steps = min(6, block.dim)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LanczosBreakdown)
            ours, theirs = (lanczos(op.matvec, block.dim, start, steps) for op in (single, reference))
        assert len(ours[0]) == len(theirs[0])
        for a, b in zip(ours, theirs):
            numpy.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


class Separable(nn.Module):
    """Logits from a linear head; a penalty on a second parameter group c, with or without a term coupling c to W.

    Separable: L = CE(W x + b) + Σ c⁴, so H = diag(H_head, H_c) and the leakage of each group is 0.
    Coupled: L gains |c|²·|W|², whose mixed derivatives 4 c Wᵀ couple the groups.
    """

    def __init__(self, coupled):
        self.head = nn.Linear(6, 4, rng=numpy.random.default_rng(3), dtype=numpy.float64)
        self.extra = _Group()
        self.coupled = coupled

    def forward(self, x):
        return self.head(x)

    def penalty(self):
        c = self.extra.c
        value = (c * c * c * c).sum()
        if self.coupled:
            value = value + (c * c).sum() * (self.head.weight * self.head.weight).sum()
        return value


class _Group(nn.Module):
    def __init__(self):
        self.c = nn.Parameter(numpy.linspace(0.3, 0.9, 3))


def test_leakage_is_zero_where_the_loss_separates_and_not_where_it_couples(device):
    x, y = _data()
    for coupled in (False, True):
        net = Separable(coupled).to(device)
        operator = HessianOperator(net, x, y, batch_size=16)
        blocks = layer_blocks(net)
        assert [b.name for b in blocks] == ["head", "extra"]
        found = leakage(operator, blocks, probes=3, seed=1)
        values = [f["leakage"] for f in found]
        if coupled:
            assert all(v > 1e-3 for v in values), values
        else:
            assert values == [0.0, 0.0], values       # exactly: no product ever leaves its block
    dense = numpy.diag(numpy.arange(1.0, 7.0))      # block-diagonal by construction, and then not
    from analysis.spectra.blocks import Block
    halves = [Block("a", range(3)), Block("b", range(3, 6))]
    assert [f["leakage"] for f in leakage(Dense(dense, device), halves, probes=2)] == [0.0, 0.0]
    dense[0, 5] = dense[5, 0] = 0.5
    assert all(f["leakage"] > 0 for f in leakage(Dense(dense, device), halves, probes=2))


def test_the_layers_of_a_net_are_coupled(device):
    net, operator = _operator(device, skip="residual")
    found = leakage(operator, layer_blocks(net), probes=2)
    assert all(0 < f["leakage"] < 1 for f in found) and all(f["zero_products"] == 0 for f in found)


@pytest.mark.parametrize("extra", [dict(skip="residual", bias_reg="cifar10"), dict(skip="plain", bn_layer=2),
                                   dict(skip="hyperres", branch_init="skipinit")])
@pytest.mark.parametrize("stack", [16, 3])
def test_batched_block_products_are_one_block_at_a_time_bit_for_bit(device, extra, stack):
    """Stacked copies of the net (models/ensemble.py), row k on block k: each row is the single product.
    With stack=3 the blocks come in passes of 3 and a last pass of fewer."""
    net, operator = _operator(device, **extra)
    blocks = _blocks(net)
    batch = BlockProducts(operator, blocks, stack=stack)
    assert batch.stack == stack
    rng = numpy.random.default_rng(7)
    vectors = [mg.to_device(rng.standard_normal(b.dim), device) for b in blocks]
    batched = [mg.to_host(p) for p in batch.matvec(vectors)]
    full = [mg.to_host(p) for p in batch.full(vectors)]
    assert batch.products == 2 * len(blocks) and batch.passes == 2 * -(-len(blocks) // stack)
    for block, v, mine, whole in zip(blocks, vectors, batched, full):
        alone = mg.to_host(BlockOperator(operator, block).matvec(v))
        one = numpy.zeros(operator.dim)
        one[block.index] = mg.to_host(v)
        if device == "cuda":    # batched GEMM may choose other kernels than a single one
            numpy.testing.assert_allclose(mine, alone, rtol=1e-12, atol=1e-15)
        else:
            assert numpy.array_equal(mine, alone), block.name
            assert numpy.array_equal(whole, mg.to_host(operator.matvec(one))), block.name


def test_a_conv_net_multiplies_block_by_block():
    net = build(dict(arch="conv", blocks=1, widths=[2, 2], classes=3, dtype="float64", seed=0))
    x = numpy.random.default_rng(0).standard_normal((4, 3, 6, 6))
    operator = HessianOperator(net, x, numpy.array([0, 1, 2, 0]))
    assert BlockProducts(operator, layer_blocks(net)).stack == 1


def test_per_layer_spectra_are_each_blocks_own_spectrum(device):
    """slq runs the blocks' Lanczos side by side (one stacked pass per step) and gets each block's own SLQ;
    exact builds the dense blocks in batched passes and gets each block's exact spectrum."""
    net, operator = _operator(device, skip="residual", bias_reg="l2")
    blocks = layer_blocks(net)
    slq = per_layer_spectra(operator, blocks, method="slq", steps=12, probes=2, seed=4)
    exact = per_layer_spectra(operator, blocks, method="exact", probes=2, seed=4)
    assert slq["products"] <= planned_products(blocks, "slq", 12, 2) and slq["passes"] < slq["products"]
    assert exact["products"] == planned_products(blocks, "exact", probes=2) == operator.dim + 2 * len(blocks)
    for block, side, whole in zip(blocks, slq["blocks"], exact["blocks"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LanczosBreakdown)
            alone = slq_spectrum(BlockOperator(operator, block), steps=12, probes=2, seed=4)
        for mine, theirs in zip(side["spectrum"]["runs"], alone["runs"]):
            numpy.testing.assert_allclose(mine["alphas"], theirs["alphas"], rtol=1e-9, atol=1e-12)
        assert side["max"] == pytest.approx(alone["ritz_max"], rel=1e-9)
        assert side["fractions"]["degenerate"] == pytest.approx(alone["fractions"]["degenerate"], abs=1e-9)
        reference = exact_spectrum(BlockOperator(operator, block))
        numpy.testing.assert_allclose(whole["spectrum"]["eigenvalues"], reference["eigenvalues"], rtol=1e-10,
                                      atol=1e-13)
        assert whole["fractions"] == reference["fractions"] and whole["max"] == pytest.approx(reference["max"])
        assert side["leakage"] == whole["leakage"]          # the same probes, the same products
        assert 0 < side["leakage"] < 1


def test_per_layer_mistakes_are_one_sentence():
    net, operator = _operator()
    with pytest.raises(ValueError, match=r"this net has 1 block \(all\); they need at least 2"):
        check_per_layer(operator, named_blocks(net, {"all": ["hidden", "output"]}))
    with pytest.raises(ValueError, match="the largest, hidden.0, has 28 parameters"):
        check_per_layer(operator, layer_blocks(net), "exact", limit=20)
    with pytest.raises(ValueError, match="unknown method"):
        check_per_layer(operator, layer_blocks(net), "dense")
    with pytest.raises(ValueError, match="the blocks overlap"):
        check_per_layer(operator, layer_blocks(net) + named_blocks(net, {"first": ["hidden.0"]}))
    with pytest.raises(ValueError, match="one by one"):
        from models.ensemble import ensemble
        x, y = _data()
        check_per_layer(HessianOperator(ensemble([dict(SMALL, seed=s) for s in (1, 2)]), x, y), layer_blocks(net))
