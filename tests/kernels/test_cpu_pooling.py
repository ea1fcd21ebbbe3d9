"""Numba max/avg pooling (kernels/cpu/pooling.py) against the NumPy references in
minicnn/functional/pooling.py, on hypothesis-drawn windows, strides, paddings."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.functional.pooling import (
    avg_pool2d_backward_reference,
    avg_pool2d_divisor,
    avg_pool2d_forward_reference,
    max_pool2d_backward_reference,
    max_pool2d_forward_reference,
    pool_output_size,
)
from minicnn.testing import assert_kernel_close

pytest.importorskip("numba")
from minicnn.kernels.cpu import pooling  # noqa: E402  (needs numba)


@st.composite
def windows(draw):
    """(N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW, ceil_mode): PyTorch-valid pooling."""
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    H = draw(st.integers(max(1, KH - 2 * PH), 9))
    W = draw(st.integers(max(1, KW - 2 * PW), 9))
    ceil_mode = draw(st.booleans())
    OH = pool_output_size(H, KH, SH, PH, 1, ceil_mode)
    OW = pool_output_size(W, KW, SW, PW, 1, ceil_mode)
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW, ceil_mode


DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@given(windows(), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_max_pool_matches_reference(g, dtype, ties, seed):
    N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW, _ = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    if ties:  # few distinct values: ties must go to the first maximum
        x = numpy.round(x)
    x = x.astype(dtype)
    geometry = (KH, KW, SH, SW, PH, PW, OH, OW)
    y, argmax = pooling.max_pool2d_forward(x, *geometry)
    want_y, want_argmax = max_pool2d_forward_reference(x, *geometry)
    assert argmax.dtype == numpy.int64
    assert numpy.array_equal(argmax, want_argmax)
    assert numpy.array_equal(y, want_y)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_kernel_close(pooling.max_pool2d_backward(gy, argmax, x.shape),
                 max_pool2d_backward_reference(gy, want_argmax, x.shape), dtype)


def test_max_pool_propagates_nan_like_the_reference():
    x = numpy.array([[[[1.0, numpy.nan], [3.0, numpy.nan]]]], dtype=numpy.float32)
    y, argmax = pooling.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 1, 1)
    want_y, want_argmax = max_pool2d_forward_reference(x, 2, 2, 2, 2, 0, 0, 1, 1)
    assert numpy.isnan(y[0, 0, 0, 0]) and numpy.isnan(want_y[0, 0, 0, 0])
    assert numpy.array_equal(argmax, want_argmax)


@given(windows(), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_avg_pool_matches_reference(g, dtype, count_include_pad, seed):
    N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW, _ = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    divisor = avg_pool2d_divisor(H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad)
    geometry = (KH, KW, SH, SW, PH, PW)
    y = pooling.avg_pool2d_forward(x, *geometry, OH, OW, divisor)
    assert y.dtype == dtype
    assert_kernel_close(y, avg_pool2d_forward_reference(x, *geometry, OH, OW, divisor), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_kernel_close(pooling.avg_pool2d_backward(gy, x.shape, *geometry, divisor),
                 avg_pool2d_backward_reference(gy, x.shape, *geometry, divisor), dtype)
