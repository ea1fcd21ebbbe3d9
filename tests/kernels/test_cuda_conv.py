"""minicnn/kernels/cuda/conv.py: im2col, col2im and conv2d against the NumPy references.

The Numba CUDA twins run here (on Numba's CUDA simulator without a GPU),
through the same wrappers the GPU uses; tiny shapes keep the simulator fast.
"""
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


@st.composite
def conv_cases(draw):
    shape, KH, KW, SH, SW, PH, PW, DH, DW = draw(geometries(max_size=5))
    N, C, H, W = shape
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if C % g == 0]))
    OC = groups * draw(st.integers(1, 2))
    with_bias = draw(st.booleans())
    return shape, (OC, C // groups, KH, KW), with_bias, (SH, SW, PH, PW, DH, DW, groups)


@given(conv_cases(), st.sampled_from([numpy.float32, numpy.float64]))
def test_conv2d_forward_backward_match_reference(case, dtype):
    x_shape, w_shape, with_bias, geo = case
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(dtype)
    weight = rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[0]).astype(dtype) if with_bias else None
    y = conv.conv2d_forward(x, weight, bias, *geo)
    numpy.testing.assert_allclose(y, conv2d_forward_reference(x, weight, bias, *geo),
                                  **TOL[dtype])
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = conv.conv2d_backward(gy, x, weight, *geo, True, True, True)
    want = conv2d_backward_reference(gy, x, weight, *geo, True, True, True)
    for g, r in zip(got, want):
        assert g.shape == r.shape
        numpy.testing.assert_allclose(g, r, **TOL[dtype])


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_conv_needs_no_im2col(stride, rng, monkeypatch):
    """1x1 convolutions read the input as its own columns: im2col never runs."""
    def forbidden(*args):
        raise AssertionError("im2col ran for a 1x1 convolution")
    monkeypatch.setattr(conv, "im2col", forbidden)
    x = rng.standard_normal((2, 4, 5, 5))
    weight = rng.standard_normal((3, 4, 1, 1))
    geo = (stride, stride, 0, 0, 1, 1, 1)
    y = conv.conv2d_forward(x, weight, None, *geo)
    numpy.testing.assert_allclose(y, conv2d_forward_reference(x, weight, None, *geo),
                                  rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx, gW, gb = conv.conv2d_backward(gy, x, weight, *geo, True, True, False)
    rx, rW, _ = conv2d_backward_reference(gy, x, weight, *geo, True, True, False)
    assert gb is None
    numpy.testing.assert_allclose(gW, rW, rtol=1e-12)
    numpy.testing.assert_allclose(gx, rx, rtol=1e-12)  # stride 2: through col2im


def test_conv2d_chunks_the_batch_under_the_workspace(rng, monkeypatch):
    """With room for one sample's columns, every chunk is one sample, same result."""
    calls = []
    real_im2col = conv.im2col

    def counting(x, *geo):
        calls.append(x.shape[0])
        return real_im2col(x, *geo)
    monkeypatch.setattr(conv, "im2col", counting)
    x = rng.standard_normal((3, 2, 4, 4))
    weight = rng.standard_normal((2, 2, 3, 3))
    geo = (1, 1, 1, 1, 1, 1, 1)
    one_sample = 2 * 9 * 16 * 8  # C*KH*KW * OH*OW * itemsize
    previous = minicnn.get_workspace()
    minicnn.set_workspace(one_sample)
    try:
        y = conv.conv2d_forward(x, weight, None, *geo)
        gx, gW, gb = conv.conv2d_backward(rng.standard_normal(y.shape), x, weight, *geo,
                                          False, True, False)
    finally:
        minicnn.set_workspace(previous)
    assert calls == [1, 1, 1, 1, 1, 1]  # 3 chunks forward, 3 recomputed in backward
    numpy.testing.assert_allclose(y, conv2d_forward_reference(x, weight, None, *geo),
                                  rtol=1e-12)
    assert gx is None and gb is None and gW.shape == weight.shape
