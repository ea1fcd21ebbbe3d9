"""A student's first mistakes each get one line that names the fix.

These cut across the package (optimizers, tensors, losses, layers), so they
are kept together: the list a newcomer is most likely to hit first.
"""
import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import Tensor, nn, optim


def test_optimizer_given_a_module_says_pass_parameters():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(TypeError, match=r"got the module Conv2d; pass model.parameters\(\)"):
        optim.SGD(conv, lr=0.1)


def test_to_an_unknown_device_lists_the_choices():
    with pytest.raises(ValueError, match=r"to: unknown target 'gpu'; expected 'cpu', 'cuda'"):
        Tensor([1.0]).to("gpu")
    assert Tensor([1.0]).to("float64").dtype == numpy.float64


def test_float_class_labels_are_recognised():
    logits = Tensor(numpy.zeros((2, 3), dtype=numpy.float32))
    with pytest.raises(ValueError, match=r"look like class labels stored as floats: "
                                         r"convert them with labels.astype\(numpy.int64\)"):
        F.cross_entropy(logits, numpy.array([0.0, 1.0]))


def test_channels_last_images_are_recognised():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"looks like \(N, H, W, C\): use x.permute\(0, 3, 1, 2\)"):
        conv(Tensor(numpy.zeros((1, 8, 8, 3), dtype=numpy.float32)))


def test_linear_on_images_suggests_flatten():
    with pytest.raises(ValueError, match=r"put nn.Flatten\(\) before this layer"):
        nn.Linear(12, 2)(Tensor(numpy.zeros((1, 3, 2, 2), dtype=numpy.float32)))


def test_a_wrong_linear_size_gets_no_misleading_hint():
    with pytest.raises(ValueError, match=r"got shape \(1, 5\)$"):
        nn.Linear(12, 2)(Tensor(numpy.zeros((1, 5), dtype=numpy.float32)))


def test_backend_typo_lists_the_backends():
    with pytest.raises(ValueError, match="unknown backend 'gpu'; choose one of numpy, numba"):
        minicnn.set_backend("gpu")
