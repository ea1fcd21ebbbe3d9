"""minicnn/functional/linear.py: gradcheck, PyTorch parity, errors."""
import numpy
import pytest
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.testing import assert_torch_parity


# the kernel_backend fixture (tests/conftest.py) runs it once per kernel backend
@pytest.mark.usefixtures("kernel_backend")
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple),
       in_features=st.integers(1, 4), out_features=st.integers(1, 4),
       with_bias=st.booleans())
def test_linear_gradcheck_and_parity(lead, in_features, out_features, with_bias):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(lead + (in_features,))          # (..., in), also plain (in,)
    w = rng.standard_normal((out_features, in_features))
    b = rng.standard_normal(out_features)
    inputs = [x, w, b] if with_bias else [x, w]
    assert minicnn.gradcheck(F.linear, [a.copy() for a in inputs])
    for dtype in (numpy.float64, numpy.float32):
        assert_torch_parity(F.linear, TF.linear, [a.astype(dtype) for a in inputs])


def test_output_shape():
    y = F.linear(numpy.ones((2, 3, 4)), numpy.ones((5, 4)), numpy.zeros(5))
    assert y.shape == (2, 3, 5)
    numpy.testing.assert_allclose(y.numpy(), 4.0)


def test_validation():
    x = numpy.ones((2, 3))
    with pytest.raises(ValueError, match=r"linear: input has 3 features \(shape \(2, 3\)\) "
                                         r"but weight expects 4 \(weight shape \(5, 4\)\)"):
        F.linear(x, numpy.ones((5, 4)))
    with pytest.raises(ValueError, match=r"weight must be 2-D .* got shape \(3,\)"):
        F.linear(x, numpy.ones(3))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\) .* got \(3,\)"):
        F.linear(x, numpy.ones((5, 3)), numpy.ones(3))
    with pytest.raises(TypeError, match="expected a floating-point input, got dtype int64"):
        F.linear(numpy.ones((2, 3), dtype=numpy.int64), numpy.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.linear(numpy.float64(1.0), numpy.ones((5, 1)))
