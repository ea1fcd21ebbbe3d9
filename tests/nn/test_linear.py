"""Linear, Identity and Flatten against torch.nn."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Tensor, nn


@pytest.mark.usefixtures("kernel_backend")
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), fin=st.integers(1, 5),
       fout=st.integers(1, 5), bias=st.booleans(),
       dtype=st.sampled_from([numpy.float32, numpy.float64]))
def test_linear_matches_torch(layer_parity, lead, fin, fout, bias, dtype):
    ours, theirs = nn.Linear(fin, fout, bias=bias), torch.nn.Linear(fin, fout, bias=bias)
    x = numpy.random.default_rng(2).standard_normal((*lead, fin)).astype(dtype)
    layer_parity(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_linear_default_init_is_pytorchs():
    minicnn.manual_seed(3)
    fc = nn.Linear(400, 300)
    bound = 1 / numpy.sqrt(400)
    assert fc.weight.shape == (300, 400) and fc.bias.shape == (300,)
    assert numpy.abs(fc.weight.data).max() <= bound
    assert numpy.abs(fc.bias.data).max() <= bound
    assert abs(fc.weight.data.std() - bound / numpy.sqrt(3)) < 0.01 * bound


def test_linear_validates_input():
    fc = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"Linear\(in_features=4, out_features=2, "
                                         r"bias=True\): expected input of shape \(\*, 4\), "
                                         r"got shape \(3, 5\)"):
        fc(Tensor(numpy.zeros((3, 5), dtype=numpy.float32)))
    with pytest.raises(TypeError, match="input has dtype float64"):
        fc(Tensor(numpy.zeros((3, 4))))
    with pytest.raises(TypeError, match="Linear: in_features must be an int"):
        nn.Linear(4.5, 2)
    with pytest.raises(ValueError, match="Linear: out_features must be >= 0"):
        nn.Linear(4, -1)


@pytest.mark.usefixtures("kernel_backend")
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=4), data=st.data())
def test_flatten_matches_torch(layer_parity, shape, data):
    nd = len(shape)
    start = data.draw(st.integers(-nd, nd - 1))
    end = data.draw(st.integers(start % nd - nd, -1))
    ours, theirs = nn.Flatten(start, end), torch.nn.Flatten(start, end)
    x = numpy.random.default_rng(0).standard_normal(shape)
    layer_parity(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_flatten_rejects_out_of_range_dims():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=3, end_dim=-1\): start_dim=3 "
                                         r"is out of range for an input of shape \(2, 3\)"):
        nn.Flatten(3)(Tensor(numpy.zeros((2, 3), dtype=numpy.float32)))


def test_identity_returns_its_input_and_ignores_arguments():
    x = Tensor(numpy.ones((2, 3), dtype=numpy.float32))
    layer = nn.Identity(54, unused="argument")
    assert layer(x) is x
    assert repr(layer) == repr(torch.nn.Identity()) == "Identity()"
    assert list(layer.parameters()) == []
