"""Numba im2col, col2im and conv2d (kernels/cpu/im2col.py, conv.py) against the
NumPy references in minicnn/functional/conv.py, on hypothesis-drawn geometry, on
every one of conv2d's paths: im2col + GEMM, the direct kernels (direct_conv.py)
and Winograd (winograd.py, tested in detail in test_cpu_winograd.py)."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn.functional.activation import relu_forward_reference
from minicnn.functional.conv import (
    col2im_array,
    conv2d_backward_reference,
    conv2d_forward_reference,
    im2col_array,
)
from minicnn.settings import settings
from minicnn.testing import assert_kernel_close, conv_geometries

pytest.importorskip("numba")
from minicnn.kernels.cpu import conv, direct_conv, im2col  # noqa: E402  (needs numba)

DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@given(conv_geometries(max_groups=1), DTYPES, st.integers(0, 2**32 - 1))
def test_im2col_col2im_match_reference(g, dtype, seed):
    N, C, H, W, _, KH, KW, SH, SW, PH, PW, DH, DW, _ = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    geometry = (KH, KW, SH, SW, PH, PW, DH, DW)
    cols = im2col.im2col(x, *geometry)
    assert_kernel_close(cols, im2col_array(x, *geometry), dtype)
    gcols = rng.standard_normal(cols.shape).astype(dtype)
    assert_kernel_close(im2col.col2im(gcols, x.shape, *geometry),
                 col2im_array(gcols, x.shape, *geometry), dtype)


def _random_conv(g, dtype, bias, seed):
    """(rng, x, weight, bias or None, (SH, SW, PH, PW, DH, DW, groups)) for a drawn geometry."""
    N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, groups = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((OC, C // groups, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if bias else None
    return rng, x, weight, b, (SH, SW, PH, PW, DH, DW, groups)


@pytest.mark.parametrize("algorithm", conv.ALGORITHMS)
@given(g=conv_geometries(), dtype=DTYPES, bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_forward_backward_match_reference(algorithm, g, dtype, bias, seed):
    # 'direct' takes the direct kernels wherever they apply (stride 1, one group,
    # padding within reach), 'winograd' Winograd wherever it applies (3x3,
    # stride 1, dilation 1, one group), 'im2col' neither, 'auto' where they pay
    rng, x, Wt, b, geometry = _random_conv(g, dtype, bias, seed)
    with conv.conv_algorithm(algorithm):
        y = conv.conv2d_forward(x, Wt, b, *geometry)
        gy = rng.standard_normal(y.shape).astype(dtype)
        got = conv.conv2d_backward(gy, x, Wt, *geometry, True, True, bias)
    assert_kernel_close(y, conv2d_forward_reference(x, Wt, b, *geometry), dtype)
    want = conv2d_backward_reference(gy, x, Wt, *geometry, True, True, bias)
    for a, e in zip(got, want):
        if e is None:
            assert a is None
        else:
            assert_kernel_close(a, e, dtype)


@pytest.mark.parametrize("kernel_size, stride, padding", [(3, 2, 1), (1, 1, 0), (1, 2, 0)])
@pytest.mark.parametrize("workspace", [1, 3000])
def test_conv2d_chunks_under_a_small_workspace(kernel_size, stride, padding, workspace):
    # workspace=1 forces one image per chunk; 3000 bytes gives chunks with a short last one
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((5, 4, 7, 6))
    Wt = rng.standard_normal((3, 4, kernel_size, kernel_size))
    b = rng.standard_normal(3)
    geometry = (stride, stride, padding, padding, 1, 1, 1)
    want_y = conv2d_forward_reference(x, Wt, b, *geometry)
    gy = rng.standard_normal(want_y.shape)
    want = conv2d_backward_reference(gy, x, Wt, *geometry, True, True, True)
    old = minicnn.get_workspace()
    minicnn.set_workspace(workspace)
    try:
        y = conv.conv2d_forward(x, Wt, b, *geometry)
        got = conv.conv2d_backward(gy, x, Wt, *geometry, True, True, True)
    finally:
        minicnn.set_workspace(old)
    assert_kernel_close(y, want_y, numpy.float64)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, numpy.float64)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True), (False, False, False)])
def test_conv2d_backward_skips_what_is_not_needed(need):
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 5)).astype(numpy.float32)
    Wt = rng.standard_normal((4, 2, 3, 3)).astype(numpy.float32)
    gy = rng.standard_normal((2, 4, 3, 3)).astype(numpy.float32)
    got = conv.conv2d_backward(gy, x, Wt, 1, 1, 0, 0, 1, 1, 1, *need)
    want = conv2d_backward_reference(gy, x, Wt, 1, 1, 0, 0, 1, 1, 1, *need)
    for flag, a, e in zip(need, got, want):
        assert (a is None) == (not flag)
        if flag:
            assert_kernel_close(a, e, numpy.float32)


def test_col2im_is_deterministic():
    # the gather writes every pixel from one iteration in a fixed order: bit-identical runs
    rng = numpy.random.default_rng(3)
    cols = rng.standard_normal((2, 3 * 3 * 3, 5 * 5)).astype(numpy.float32)
    first = im2col.col2im(cols, (2, 3, 9, 9), 3, 3, 2, 2, 1, 1, 1, 1)
    for _ in range(3):
        assert numpy.array_equal(im2col.col2im(cols, (2, 3, 9, 9), 3, 3, 2, 2, 1, 1, 1, 1), first)


@st.composite
def direct_geometries(draw):
    """Stride-1, one-group layers the direct kernels take, with more channels and
    larger planes than ``geometries`` (several taps per group of four, long rows)."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    PH, PW = draw(st.integers(0, DH * (KH - 1))), draw(st.integers(0, DW * (KW - 1)))
    H = draw(st.integers(max(1, DH * (KH - 1) + 1 - 2 * PH), 16))
    W = draw(st.integers(max(1, DW * (KW - 1) + 1 - 2 * PW), 16))
    return (draw(st.integers(1, 4)), draw(st.integers(1, 7)), H, W, draw(st.integers(1, 9)),
            KH, KW, PH, PW, DH, DW)


@given(direct_geometries(), DTYPES, st.integers(0, 2**32 - 1))
def test_direct_conv2d_matches_reference(g, dtype, seed):
    N, C, H, W, OC, KH, KW, PH, PW, DH, DW = g
    assert direct_conv.direct_conv_applies(KH, KW, 1, 1, PH, PW, DH, DW, 1) == (KH * KW > 1)
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((OC, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    geometry = (1, 1, PH, PW, DH, DW, 1)
    with conv.conv_algorithm("direct"):
        y = conv.conv2d_forward(x, Wt, b, *geometry)
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx, gW, gb = conv.conv2d_backward(gy, x, Wt, *geometry, True, True, True)
    assert_kernel_close(y, conv2d_forward_reference(x, Wt, b, *geometry), dtype)
    want = conv2d_backward_reference(gy, x, Wt, *geometry, True, True, True)
    for a, e in zip((gx, gW, gb), want):
        assert_kernel_close(a, e, dtype)


@st.composite
def blocked_direct_cases(draw):
    """A direct layer and a strip size that cut it into the kernels' blocks with
    remainders: OC not a multiple of OUT_BLOCK (nor of the gweight pair), tap
    counts not a multiple of TAP_BLOCK / GRAD_TAP_BLOCK, and strips from one
    row (strip_pixels=1) to the whole plane, the last one short."""
    N, C, H, W, _, KH, KW, PH, PW, DH, DW = draw(direct_geometries())
    OC = draw(st.integers(1, 2 * direct_conv.OUT_BLOCK + 3))
    strip_pixels = draw(st.sampled_from([1, 7, 40, direct_conv.STRIP_PIXELS]))
    return N, C, H, W, OC, KH, KW, PH, PW, DH, DW, strip_pixels


def _direct_against_reference(N, C, H, W, OC, KH, KW, PH, PW, DH, DW, strip_pixels, dtype,
                              seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((OC, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    geometry = (1, 1, PH, PW, DH, DW, 1)
    y = direct_conv.direct_conv2d_forward(x, Wt, b, PH, PW, DH, DW, strip_pixels=strip_pixels)
    assert_kernel_close(y, conv2d_forward_reference(x, Wt, b, *geometry), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gW = direct_conv.direct_conv2d_backward(gy, x, Wt, PH, PW, DH, DW, True, True,
                                                strip_pixels=strip_pixels)
    want_gx, want_gW, _ = conv2d_backward_reference(gy, x, Wt, *geometry, True, True, False)
    assert_kernel_close(gx, want_gx, dtype)
    assert_kernel_close(gW, want_gW, dtype)


@given(blocked_direct_cases(), DTYPES, st.integers(0, 2**32 - 1))
def test_direct_conv2d_blocks_and_strips_match_reference(case, dtype, seed):
    _direct_against_reference(*case, dtype, seed)


@pytest.mark.parametrize("C, KH, KW", [(1, 2, 2), (1, 3, 3), (2, 1, 3), (1, 2, 3), (1, 1, 2),
                                       (5, 1, 2)])
def test_direct_conv2d_every_block_remainder(C, KH, KW):
    # C*KH*KW covers every remainder mod TAP_BLOCK (3), KH*KW every remainder
    # mod GRAD_TAP_BLOCK (4); OC runs through every remainder mod OUT_BLOCK (4)
    # and mod 2; strips of 7 wide pixels leave a short last strip
    assert (direct_conv.TAP_BLOCK, direct_conv.GRAD_TAP_BLOCK, direct_conv.OUT_BLOCK) == (3, 4, 4)
    for OC in range(1, 10):
        _direct_against_reference(2, C, 6, 5, OC, KH, KW, KH - 1, 0, 1, 1, 7, numpy.float64,
                                  OC)


@pytest.mark.parametrize("layer, pays", [
    ((1, 6, 28, 5, 5, 1, 1, 2, 2, 1, 1, 1), True),       # LeNet-5 conv1
    ((6, 16, 14, 5, 5, 1, 1, 2, 2, 1, 1, 1), True),      # LeNet-5 (modern) conv2
    ((16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), True),     # CIFAR ResNet-20, stage 1
    ((64, 64, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1), False),    # ResNet-50 3x3 @56: GEMM wins
    ((1, 6, 28, 5, 5, 2, 2, 2, 2, 1, 1, 1), False),      # stride 2: not a direct layer
    ((4, 4, 28, 3, 3, 1, 1, 1, 1, 1, 1, 2), False),      # grouped
    ((4, 4, 28, 3, 3, 1, 1, 3, 3, 1, 1, 1), False),      # padding beyond the kernel's reach
    ((4, 4, 28, 1, 1, 1, 1, 0, 0, 1, 1, 1), False),      # 1x1: already a GEMM
])
def test_direct_conv_is_chosen_for_small_stride1_layers(layer, pays):
    C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups = layer
    assert direct_conv.direct_conv_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups) == pays


def test_conv_algorithm_rejects_unknown_names_and_restores_on_error():
    with pytest.raises(ValueError, match="conv_algorithm: expected one of"):
        with conv.conv_algorithm("fft"):
            pass
    with pytest.raises(RuntimeError):
        with conv.conv_algorithm("im2col"):
            assert settings.conv_algorithm == "im2col"
            raise RuntimeError
    assert settings.conv_algorithm == "auto"


def test_direct_conv2d_propagates_nan_to_the_outputs_that_read_it():
    # fastmath here is reassoc + contract only: NaN must not be optimised away
    x = numpy.zeros((1, 2, 8, 8), dtype=numpy.float32)
    x[0, 1, 4, 4] = numpy.nan
    Wt = numpy.ones((3, 2, 3, 3), dtype=numpy.float32)
    with conv.conv_algorithm("direct"):
        y = conv.conv2d_forward(x, Wt, None, 1, 1, 1, 1, 1, 1, 1)
        gx, gW, _ = conv.conv2d_backward(numpy.ones_like(y), x, Wt, 1, 1, 1, 1, 1, 1, 1,
                                         True, True, False)
    want = numpy.zeros((8, 8), dtype=bool)
    want[3:6, 3:6] = True  # the 3x3 outputs whose window holds (4, 4)
    for o in range(3):
        numpy.testing.assert_array_equal(numpy.isnan(y[0, o]), want)
    assert numpy.isnan(gW[:, 1]).any() and not numpy.isnan(gW[:, 0]).any()
    assert not numpy.isnan(gx).any()  # gx reads gy and W only


@pytest.mark.parametrize("algorithm", conv.ALGORITHMS)
@given(g=conv_geometries(), dtype=DTYPES, bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_relu_forward_matches_the_composition(algorithm, g, dtype, bias, seed):
    """conv2d_relu_forward on every path against relu(conv2d_forward_reference(...))."""
    rng, x, Wt, b, geometry = _random_conv(g, dtype, bias, seed)
    with conv.conv_algorithm(algorithm):
        y = conv.conv2d_relu_forward(x, Wt, b, *geometry)
    want = relu_forward_reference(conv2d_forward_reference(x, Wt, b, *geometry))
    assert_kernel_close(y, want, dtype)
    assert (y >= 0).all()
