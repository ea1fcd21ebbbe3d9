"""CIFAR ResNets (zoo/resnet_cifar.py): the papers' parameter counts, option A shortcuts."""
import numpy
import pytest

import minicnn
from minicnn import nn, zoo

# Section 4.2 of the ResNet paper (0.27M ... 1.7M) and the pre-activation ResNet-164
# (1.7M): our exact counts with 10 classes.
COUNTS = {"resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586,
          "resnet56": 853_018, "resnet110": 1_727_962, "resnet164": 1_703_258}
PAPER_MILLIONS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85,
                  "resnet110": 1.7, "resnet164": 1.7}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts(fast_init, name):
    count = getattr(zoo, name)().num_parameters()
    assert count == COUNTS[name]
    assert round(count / 1e6, 2 if count < 1e6 else 1) == PAPER_MILLIONS[name]


def test_depth_is_6n_plus_2():
    model = zoo.resnet56()
    weight_layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weight_layers) == 56


def test_option_a_shortcut_subsamples_and_zero_pads():
    block = zoo.resnet20().layer2[0]
    x = numpy.random.default_rng(0).standard_normal((2, 16, 8, 8)).astype(numpy.float32)
    y = block.shortcut(minicnn.Tensor(x)).numpy()
    assert y.shape == (2, 32, 4, 4)
    numpy.testing.assert_array_equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not numpy.any(y[:, :8]) and not numpy.any(y[:, 24:])


@pytest.mark.parametrize("name,size", [("resnet20", 32), ("resnet164", 16)])
def test_forward_backward(forward_backward, name, size):
    forward_backward(getattr(zoo, name)(), (2, 3, size, size), 10)
