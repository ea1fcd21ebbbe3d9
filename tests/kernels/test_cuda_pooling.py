"""minicnn/kernels/cuda/pooling.py: max/avg pooling against the NumPy references.

The Numba CUDA twins run here (on Numba's CUDA simulator without a GPU).
"""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.functional.pooling import (  # noqa: E402
    avg_pool2d_backward_reference,
    avg_pool2d_divisor,
    avg_pool2d_forward_reference,
    max_pool2d_backward_reference,
    max_pool2d_forward_reference,
    pool_output_size,
)
from minicnn.kernels.cuda import pooling  # noqa: E402

TOL = {numpy.float32: dict(rtol=1e-5, atol=1e-6), numpy.float64: dict(rtol=1e-12, atol=1e-13)}
DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@st.composite
def pool_geometries(draw):
    """(x_shape, KH, KW, SH, SW, PH, PW, OH, OW) as PyTorch allows (padding <= K/2)."""
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    H, W = draw(st.integers(KH, 6)), draw(st.integers(KW, 6))
    ceil_mode = draw(st.booleans())
    OH = pool_output_size(H, KH, SH, PH, ceil_mode=ceil_mode)
    OW = pool_output_size(W, KW, SW, PW, ceil_mode=ceil_mode)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W)
    return shape, KH, KW, SH, SW, PH, PW, OH, OW


@given(pool_geometries(), DTYPES)
def test_max_pool2d_matches_reference(geometry, dtype):
    shape, *geo = geometry
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    y, argmax = pooling.max_pool2d_forward(x, *geo)
    ry, rargmax = max_pool2d_forward_reference(x, *geo)
    assert argmax.dtype == numpy.int64
    numpy.testing.assert_array_equal(y, ry)
    numpy.testing.assert_array_equal(argmax, rargmax)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = pooling.max_pool2d_backward(gy, argmax, shape)
    numpy.testing.assert_allclose(gx, max_pool2d_backward_reference(gy, argmax, shape),
                                  **TOL[dtype])


def test_max_pool2d_ties_take_the_first_maximum():
    """A constant plane: every window's winner is its first (top-left) pixel."""
    x = numpy.ones((1, 1, 4, 4), dtype=numpy.float32)
    y, argmax = pooling.max_pool2d_forward(x, 2, 2, 1, 1, 0, 0, 3, 3)
    want = numpy.array([[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    numpy.testing.assert_array_equal(argmax[0, 0], want)
    numpy.testing.assert_array_equal(y, numpy.ones((1, 1, 3, 3), dtype=numpy.float32))


def test_max_pool2d_backward_sums_shared_winners():
    """Overlapping windows with one winner: its gradient is the sum of theirs."""
    x = numpy.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the centre wins all four 2x2 windows
    y, argmax = pooling.max_pool2d_forward(x, 2, 2, 1, 1, 0, 0, 2, 2)
    gy = numpy.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    gx = pooling.max_pool2d_backward(gy, argmax, x.shape)
    assert gx[0, 0, 1, 1] == 10.0 and gx.sum() == 10.0


@given(pool_geometries(), DTYPES, st.booleans())
def test_avg_pool2d_matches_reference(geometry, dtype, count_include_pad):
    shape, KH, KW, SH, SW, PH, PW, OH, OW = geometry
    geo = (KH, KW, SH, SW, PH, PW)
    divisor = avg_pool2d_divisor(shape[2], shape[3], *geo, OH, OW,
                                 count_include_pad=count_include_pad, xp=numpy)
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    y = pooling.avg_pool2d_forward(x, *geo, OH, OW, divisor)
    numpy.testing.assert_allclose(
        y, avg_pool2d_forward_reference(x, *geo, OH, OW, divisor), **TOL[dtype])
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = pooling.avg_pool2d_backward(gy, shape, *geo, divisor)
    numpy.testing.assert_allclose(
        gx, avg_pool2d_backward_reference(gy, shape, *geo, divisor), **TOL[dtype])
