"""The numba Winograd convolution (kernels/cpu/winograd.py) against the NumPy
Winograd reference (functional/conv_winograd.py) and F.conv2d's reference, on
hypothesis-drawn 3x3 stride-1 geometries; and when conv2d takes it."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn.functional._winograd import WINOGRAD_TILES
from minicnn.functional.conv import conv2d_backward_reference, conv2d_forward_reference
from minicnn.functional.conv_winograd import conv2d_winograd_backward, conv2d_winograd_forward
from minicnn.testing import assert_kernel_close, winograd_geometries

pytest.importorskip("numba")
from minicnn.kernels.cpu import conv, winograd  # noqa: E402  (needs numba)

DTYPES = st.sampled_from([numpy.float32, numpy.float64])


def _arrays(g, dtype, seed):
    N, C, OC, H, W, PH, PW = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((OC, C, 3, 3)).astype(dtype)
    bias = rng.standard_normal(OC).astype(dtype)
    gy = rng.standard_normal((N, OC, H + 2 * PH - 2, W + 2 * PW - 2)).astype(dtype)
    return x, weight, bias, gy


@pytest.mark.parametrize("tile", WINOGRAD_TILES)
@given(g=winograd_geometries(), dtype=DTYPES, seed=st.integers(0, 2**32 - 1))
def test_numba_winograd_matches_the_numpy_winograd(tile, g, dtype, seed):
    PH, PW = g[5:]
    x, weight, bias, gy = _arrays(g, dtype, seed)
    assert_kernel_close(winograd.winograd_conv2d_forward(x, weight, bias, PH, PW, tile),
                        conv2d_winograd_forward(x, weight, bias, PH, PW, tile), dtype)
    got = winograd.winograd_conv2d_backward(gy, x, weight, PH, PW, True, True, tile)
    want = conv2d_winograd_backward(gy, x, weight, PH, PW, tile, True, True, False)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, dtype)


@given(g=winograd_geometries(), dtype=DTYPES, bias=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_conv2d_forced_to_winograd_matches_the_reference(g, dtype, bias, seed):
    PH, PW = g[5:]
    x, weight, b, gy = _arrays(g, dtype, seed)
    b = b if bias else None
    geometry = (1, 1, PH, PW, 1, 1, 1)
    C, OC, W = g[1], g[2], g[4]
    with conv.conv_algorithm("winograd"):
        assert conv.choose_algorithm(C, OC, W, 3, 3, *geometry) == "winograd"
        y = conv.conv2d_forward(x, weight, b, *geometry)
        got = conv.conv2d_backward(gy, x, weight, *geometry, True, True, bias)
    assert_kernel_close(y, conv2d_forward_reference(x, weight, b, *geometry), dtype)
    want = conv2d_backward_reference(gy, x, weight, *geometry, True, True, bias)
    for a, e in zip(got, want):
        if e is None:
            assert a is None
        else:
            assert_kernel_close(a, e, dtype)


def test_chunks_of_the_batch_give_the_same_result():
    x, weight, bias, gy = _arrays((5, 3, 4, 9, 7, 1, 1), numpy.float64, 0)
    whole = winograd.winograd_conv2d_forward(x, weight, bias, 1, 1)
    whole_grads = winograd.winograd_conv2d_backward(gy, x, weight, 1, 1, True, True)
    before = minicnn.get_workspace()
    minicnn.set_workspace(1)  # one image per chunk
    try:
        chunked = winograd.winograd_conv2d_forward(x, weight, bias, 1, 1)
        chunked_grads = winograd.winograd_conv2d_backward(gy, x, weight, 1, 1, True, True)
    finally:
        minicnn.set_workspace(before)
    numpy.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
    for a, e in zip(chunked_grads, whole_grads):
        numpy.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer", [
    (4, 4, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1),     # stride 2
    (4, 4, 9, 5, 5, 1, 1, 2, 2, 1, 1, 1),     # 5x5
    (4, 4, 9, 3, 3, 1, 1, 2, 2, 2, 2, 1),     # dilation 2
    (4, 4, 9, 3, 3, 1, 1, 1, 1, 1, 1, 2),     # two groups
    (4, 4, 9, 3, 3, 1, 1, 3, 3, 1, 1, 1),     # padding 3
    (4, 4, 9, 1, 1, 1, 1, 0, 0, 1, 1, 1),     # 1x1
])
def test_forcing_winograd_on_other_layers_falls_back_to_im2col(layer):
    C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups = layer
    geometry = (SH, SW, PH, PW, DH, DW, groups)
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2, C, W, W))
    weight = rng.standard_normal((OC, C // groups, KH, KW))
    with conv.conv_algorithm("winograd"):
        assert conv.choose_algorithm(C, OC, W, KH, KW, *geometry) == "im2col"
        y = conv.conv2d_forward(x, weight, None, *geometry)
        gy = rng.standard_normal(y.shape)
        got = conv.conv2d_backward(gy, x, weight, *geometry, True, True, False)
    assert_kernel_close(y, conv2d_forward_reference(x, weight, None, *geometry), numpy.float64)
    want = conv2d_backward_reference(gy, x, weight, *geometry, True, True, False)
    for a, e in zip(got[:2], want[:2]):
        assert_kernel_close(a, e, numpy.float64)


RESNET50_3X3 = [(64, 64, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1),     # ResNet-50 3x3 @56
                (128, 128, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1),   # @28
                (256, 256, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1)]   # @14


@pytest.mark.parametrize("layer", RESNET50_3X3)
def test_auto_never_takes_winograd_at_the_measured_threshold(layer):
    # no measured layer won (benchmarks/RESULTS.md), so WINOGRAD_FROM is infinite
    assert winograd.WINOGRAD_FROM == float("inf")
    with conv.conv_algorithm("auto"):
        assert conv.choose_algorithm(*layer) == "im2col"
    with conv.conv_algorithm("winograd"):
        assert conv.choose_algorithm(*layer) == "winograd"


@pytest.mark.parametrize("layer, algorithm", [
    (RESNET50_3X3[0], "winograd"),                            # cost 4096
    (RESNET50_3X3[2], "winograd"),                            # cost 65536 * 14/16
    ((32, 64, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1), "im2col"),      # cost 2048 * 14/16
    ((16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1), "direct"),      # ResNet-20 @32: direct first
    ((6, 16, 14, 5, 5, 1, 1, 2, 2, 1, 1, 1), "direct"),       # LeNet-5 conv2
    ((256, 256, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1), "im2col"),    # stride 2
    ((256, 256, 14, 5, 5, 1, 1, 2, 2, 1, 1, 1), "im2col"),    # 5x5, too big for direct
    ((256, 256, 14, 3, 3, 1, 1, 1, 1, 2, 2, 1), "im2col"),    # dilation 2
])
def test_auto_takes_winograd_where_the_rule_says(monkeypatch, layer, algorithm):
    # the rule's mechanism, at a finite threshold a faster machine might measure
    monkeypatch.setattr(winograd, "WINOGRAD_FROM", 4096)
    with conv.conv_algorithm("auto"):
        assert conv.choose_algorithm(*layer) == algorithm
    assert winograd.winograd_pays(*layer) == (algorithm == "winograd")
    assert winograd.winograd_cost(64, 64, 56, 1) == 4096        # OW 56 fills 14 tiles of 4
    assert winograd.winograd_cost(32, 64, 14, 1) == 2048 * 14 / 16
