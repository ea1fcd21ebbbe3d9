"""minicnn/kernels/cuda/conv.py: im2col and col2im against the NumPy references,
and the shared conv2d driver (minicnn/functional/conv.py) running on them.

The Numba CUDA twins run here (on Numba's CUDA simulator without a GPU),
through the same wrappers the GPU uses; tiny shapes keep the simulator fast.
"""
import sys

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

import minicnn  # noqa: E402
from minicnn.functional.conv import (  # noqa: E402
    col2im_array,
    conv2d_backward_reference,
    conv2d_forward_reference,
    im2col_array,
)
from minicnn.kernels.cuda import conv  # noqa: E402

TOL = {numpy.float32: dict(rtol=1e-5, atol=1e-6), numpy.float64: dict(rtol=1e-12, atol=1e-13)}


@st.composite
def geometries(draw, max_size=6):
    """(x_shape, KH, KW, SH, SW, PH, PW, DH, DW) with at least one output pixel."""
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    SH, SW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    PH, PW = draw(st.integers(0, KH // 2 + 1)), draw(st.integers(0, KW // 2 + 1))
    H = draw(st.integers(max(1, DH * (KH - 1) + 1 - 2 * PH), max_size))
    W = draw(st.integers(max(1, DW * (KW - 1) + 1 - 2 * PW), max_size))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return (N, C, H, W), KH, KW, SH, SW, PH, PW, DH, DW


@given(geometries(), st.sampled_from([numpy.float32, numpy.float64]))
def test_im2col_matches_reference(geometry, dtype):
    shape, *geo = geometry
    x = numpy.random.default_rng(1).standard_normal(shape).astype(dtype)
    cols = conv.im2col(x, *geo)
    assert cols.dtype == dtype
    numpy.testing.assert_array_equal(cols, im2col_array(x, *geo))


@given(geometries(), st.sampled_from([numpy.float32, numpy.float64]))
def test_col2im_matches_reference(geometry, dtype):
    shape, *geo = geometry
    ref_shape = im2col_array(numpy.zeros(shape, dtype), *geo).shape
    cols = numpy.random.default_rng(2).standard_normal(ref_shape).astype(dtype)
    x = conv.col2im(cols, shape, *geo)
    assert x.shape == shape and x.dtype == dtype
    numpy.testing.assert_allclose(x, col2im_array(cols, shape, *geo), **TOL[dtype])


def test_col2im_is_deterministic(rng):
    """A gather has one writer per pixel: two runs give identical bits."""
    cols = rng.standard_normal((1, 2 * 9, 16)).astype(numpy.float32)
    first = conv.col2im(cols, (1, 2, 6, 6), 3, 3, 1, 1, 0, 0, 1, 1)
    second = conv.col2im(cols, (1, 2, 6, 6), 3, 3, 1, 1, 0, 0, 1, 1)
    numpy.testing.assert_array_equal(first, second)


@pytest.fixture
def cuda_column_kernels(monkeypatch):
    """The shared conv2d driver on the cuda column kernels, with NumPy data.

    On CuPy data ``kernel('im2col', ...)`` answers with kernels/cuda/conv.py's
    kernels; NumPy data never reaches them through the table, so here they are
    put in the numpy backend's place: the driver then runs exactly the calls
    it makes on a GPU, with the Numba twins on the simulator.
    """
    table = sys.modules["minicnn.backend"]._kernels
    monkeypatch.setitem(table, ("numpy", "im2col"), conv.im2col)
    monkeypatch.setitem(table, ("numpy", "col2im"), conv.col2im)
    with minicnn.use_backend("numpy"):
        yield


@st.composite
def conv_cases(draw):
    shape, KH, KW, SH, SW, PH, PW, DH, DW = draw(geometries(max_size=5))
    N, C, H, W = shape
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if C % g == 0]))
    OC = groups * draw(st.integers(1, 2))
    with_bias = draw(st.booleans())
    return shape, (OC, C // groups, KH, KW), with_bias, (SH, SW, PH, PW, DH, DW, groups)


def _reference_conv(x, weight, bias, geo, gy):
    """y and (gx, gweight, gbias) with the NumPy im2col/col2im references."""
    table = sys.modules["minicnn.backend"]._kernels
    saved = {name: table.pop(("numpy", name), None) for name in ("im2col", "col2im")}
    try:
        y = conv2d_forward_reference(x, weight, bias, *geo)
        grads = conv2d_backward_reference(gy, x, weight, *geo, True, True, bias is not None)
    finally:
        for name, fn in saved.items():
            if fn is not None:
                table[("numpy", name)] = fn
    return y, grads


@pytest.mark.usefixtures("cuda_column_kernels")
@given(conv_cases(), st.sampled_from([numpy.float32, numpy.float64]))
def test_conv2d_driver_on_the_cuda_kernels_matches_reference(case, dtype):
    x_shape, w_shape, with_bias, geo = case
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype) if with_bias else None
    y = conv2d_forward_reference(x, weight, bias, *geo)
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = conv2d_backward_reference(gy, x, weight, *geo, True, True, with_bias)
    want_y, want = _reference_conv(x, weight, bias, geo, gy)
    numpy.testing.assert_allclose(y, want_y, **TOL[dtype])
    for g, r in zip(got, want):
        if r is None:
            assert g is None
        else:
            assert g.shape == r.shape
            numpy.testing.assert_allclose(g, r, **TOL[dtype])


def test_cuda_registers_no_conv2d_of_its_own():
    """The cuda backend owns im2col/col2im; conv2d is the shared driver."""
    table = sys.modules["minicnn.backend"]._kernels
    assert table[("cuda", "im2col")] is conv.im2col
    assert ("cuda", "conv2d_forward") not in table
    assert ("cuda", "conv2d_backward") not in table
