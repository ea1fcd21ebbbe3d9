"""minicnn/kernels/cuda/dropout.py: the dropout mask against the NumPy reference."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.functional.dropout import dropout_forward_reference  # noqa: E402
from minicnn.kernels.cuda import dropout  # noqa: E402


@given(st.integers(1, 40), st.floats(0.0, 0.95), st.sampled_from([numpy.float32, numpy.float64]))
def test_dropout_matches_reference(n, p, dtype):
    rng = numpy.random.default_rng(9)
    x = rng.standard_normal((2, n)).astype(dtype)
    u = rng.random((2, n)).astype(dtype)
    y, mask = dropout.dropout_forward(x, u, p)
    ry, rmask = dropout_forward_reference(x, u, p)
    assert mask.dtype == dtype
    numpy.testing.assert_array_equal(mask, rmask)
    numpy.testing.assert_array_equal(y, ry)


def test_dropout_p_one_drops_everything(rng):
    x = rng.standard_normal(10)
    y, mask = dropout.dropout_forward(x, rng.random(10), 1.0)
    numpy.testing.assert_array_equal(y, numpy.zeros(10))
    numpy.testing.assert_array_equal(mask, numpy.zeros(10))
