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


class _Residual(nn.Module):
    """relu(bn(x) + x) with one in-place ReLU: the zoo's residual pattern."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(x) + x)


class _TorchResidual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)
        self.relu = torch.nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(x) + x)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_inplace_relu_after_batch_norm_and_add_matches_torch(layer_parity, train, dtype):
    """BN -> ReLU(inplace) and add -> ReLU(inplace) (both absorbed into one node):
    outputs, every gradient and the running statistics over two steps."""
    x = _input((4, 3, 5, 5), dtype)
    layer_parity(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(inplace=True)),
                 torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.ReLU(inplace=True)),
                 x, train=train, steps=2)
    layer_parity(_Residual(), _TorchResidual(), x, train=train, steps=2)


def test_inplace_relu_layer_returns_its_input():
    x = Tensor(numpy.array([-1.0, 3.0]))
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 3.0]
    y = Tensor(numpy.array([-1.0, 3.0]))
    assert nn.ReLU()(y) is not y and y.tolist() == [-1.0, 3.0]
