"""The fully connected networks of PAPER.md §2.3 (the part the engine benchmark uses)."""
import numpy
import pytest

import minigrad as mg
from models import MLP


@pytest.mark.parametrize("depth, count", [(20, 709_652), (30, 874_772)])
@pytest.mark.parametrize("skip", ["plain", "residual"])
def test_parameter_counts_match_the_paper(depth, count, skip):
    model = MLP(inputs=3072, width=128, depth=depth, classes=20, skip=skip, rng=0)
    assert sum(p.size for p in model.parameters()) == count


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


def test_glorot_normal_start_and_unknown_skip():
    model = MLP(inputs=128, width=128, depth=3, classes=20, rng=0)
    w = model.hidden[1].weight.numpy()
    assert abs(w.std() - numpy.sqrt(2 / 256)) < 0.05 * numpy.sqrt(2 / 256)
    assert all(numpy.all(layer.bias.numpy() == 0) for layer in model.hidden)
    with pytest.raises(ValueError, match="unknown skip type"):
        MLP(skip="dense")
