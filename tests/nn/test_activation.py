"""Activation layers against torch.nn."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn import Tensor, nn

DTYPES = st.sampled_from([numpy.float32, numpy.float64])
SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4)


def _input(shape, dtype):
    return (3 * numpy.random.default_rng(9).standard_normal(shape)).astype(dtype)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU, torch.nn.ReLU), (nn.Tanh, torch.nn.Tanh), (nn.Sigmoid, torch.nn.Sigmoid),
])
@given(shape=SHAPES, dtype=DTYPES)
def test_elementwise_activations_match_torch(layer_parity, ours, theirs, shape, dtype):
    layer_parity(ours(), theirs(), _input(shape, dtype))


@pytest.mark.usefixtures("kernel_backend")
@given(shape=SHAPES, dtype=DTYPES, slope=st.floats(0.0, 0.5))
def test_leaky_relu_matches_torch(layer_parity, shape, dtype, slope):
    ours, theirs = nn.LeakyReLU(slope), torch.nn.LeakyReLU(slope)
    layer_parity(ours, theirs, _input(shape, dtype))
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("ours, theirs", [(nn.Softmax, torch.nn.Softmax),
                                          (nn.LogSoftmax, torch.nn.LogSoftmax)])
@given(shape=SHAPES, dtype=DTYPES, data=st.data())
def test_softmax_layers_match_torch(layer_parity, ours, theirs, shape, dtype, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ours, theirs = ours(dim), theirs(dim)
    layer_parity(ours, theirs, _input(shape, dtype))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
    (nn.LeakyReLU(), torch.nn.LeakyReLU()),
    (nn.LeakyReLU(0.2, inplace=True), torch.nn.LeakyReLU(0.2, inplace=True)),
    (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.Softmax(), torch.nn.Softmax()),
])
def test_activation_reprs_match_torch(ours, theirs):
    assert repr(ours) == repr(theirs)


def test_activations_validate():
    with pytest.raises(TypeError, match="ReLU: inplace must be True or False"):
        nn.ReLU(inplace="no")
    with pytest.raises(TypeError, match="Softmax: dim must be an int"):
        nn.Softmax(dim=1.5)
    with pytest.raises(TypeError, match=r"ReLU\(\): expected a floating-point input, got "
                                        "dtype int64"):
        nn.ReLU()(Tensor(numpy.arange(3, dtype=numpy.int64)))
    with pytest.raises(TypeError, match=r"Tanh\(\): expected a minicnn Tensor or an array"):
        nn.Tanh()([1.0, 2.0])
