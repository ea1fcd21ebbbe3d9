"""Dropout: the train/eval switch, inverted scaling, gradients and seeding."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Tensor, nn


@pytest.mark.usefixtures("kernel_backend")
@given(p=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
       dtype=st.sampled_from([numpy.float32, numpy.float64]))
def test_dropout_train_mode_is_inverted_dropout(p, dtype):
    minicnn.manual_seed(11)
    x = Tensor(numpy.random.default_rng(0).uniform(1, 2, (40, 50)).astype(dtype),
               requires_grad=True)
    layer = nn.Dropout(p)
    y = layer(x)
    assert y.dtype == dtype
    kept = y.data != 0
    # kept elements are scaled by 1 / (1 - p), dropped ones are exactly 0
    numpy.testing.assert_allclose(y.data[kept], x.data[kept] / (1 - p), rtol=1e-6)
    assert abs((1 - kept.mean()) - p) < 0.05          # 2000 draws
    g = numpy.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    numpy.testing.assert_allclose(x.grad, numpy.where(kept, g / (1 - p), 0), rtol=1e-6)


def test_dropout_p_one_gives_zeros():
    y = nn.Dropout(1.0)(Tensor(numpy.ones((3, 3), dtype=numpy.float32)))
    assert not y.data.any()


def test_dropout_eval_mode_is_the_identity():
    layer = nn.Dropout(0.5).eval()
    x = Tensor(numpy.ones((4, 4), dtype=numpy.float32))
    numpy.testing.assert_array_equal(layer(x).data, x.data)
    layer.train()
    assert (layer(x).data == 0).any()


def test_dropout_is_reproducible_with_manual_seed():
    x = Tensor(numpy.ones((8, 8), dtype=numpy.float32))
    minicnn.manual_seed(5)
    first = nn.Dropout(0.5)(x).data
    minicnn.manual_seed(5)
    numpy.testing.assert_array_equal(nn.Dropout(0.5)(x).data, first)


def test_dropout_repr_and_validation():
    assert repr(nn.Dropout()) == repr(torch.nn.Dropout())
    assert repr(nn.Dropout(0.3, inplace=True)) == repr(torch.nn.Dropout(0.3, inplace=True))
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="Dropout: p must be a number"):
        nn.Dropout("0.5")
