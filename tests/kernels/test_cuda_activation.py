"""minicnn/kernels/cuda/activation.py: ReLU against the NumPy references."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.functional.activation import (  # noqa: E402
    relu_backward_reference,
    relu_forward_reference,
)
from minicnn.kernels.cuda import activation  # noqa: E402


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4),
       st.sampled_from([numpy.float32, numpy.float64]))
def test_relu_matches_reference(shape, dtype):
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    y = activation.relu_forward(x)
    numpy.testing.assert_array_equal(y, relu_forward_reference(x))
    gy = rng.standard_normal(shape).astype(dtype)
    numpy.testing.assert_array_equal(activation.relu_backward(gy, y),
                                     relu_backward_reference(gy, y))


def test_relu_keeps_nan_and_zeroes_negatives():
    x = numpy.array([numpy.nan, -1.0, 0.0, 2.0])
    numpy.testing.assert_array_equal(activation.relu_forward(x), [numpy.nan, 0, 0, 2])


def test_relu_handles_non_contiguous_input(rng):
    x = rng.standard_normal((4, 6))[:, ::2]  # a strided view
    numpy.testing.assert_array_equal(activation.relu_forward(x), numpy.maximum(x, 0))
