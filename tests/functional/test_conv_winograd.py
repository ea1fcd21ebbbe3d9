"""Tests of minicnn/functional/conv_winograd.py (and the matrices of _winograd.py):
the NumPy Winograd convolution against F.conv2d's reference path, by finite
differences, and against PyTorch."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.functional._winograd import WINOGRAD_TILES, winograd_applies, winograd_matrices
from minicnn.functional.conv import conv2d_backward_reference, conv2d_forward_reference
from minicnn.functional.conv_winograd import conv2d_winograd_backward, conv2d_winograd_forward
from minicnn.testing import assert_kernel_close, assert_torch_parity, winograd_geometries


@pytest.mark.parametrize("tile", WINOGRAD_TILES)
def test_matrices_compute_a_1d_correlation(tile):
    # F(m, 3): A^T [(G g) * (B^T d)] is the correlation y[k] = sum_i d[k + i] g[i], k < m
    BT, G, AT = winograd_matrices(tile)
    alpha = tile + 2
    assert BT.shape == (alpha, alpha) and G.shape == (alpha, 3) and AT.shape == (tile, alpha)
    rng = numpy.random.default_rng(tile)
    for _ in range(5):
        d, g = rng.standard_normal(tile + 2), rng.standard_normal(3)
        want = numpy.array([d[k:k + 3] @ g for k in range(tile)])
        numpy.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("tile", WINOGRAD_TILES)
@given(g=winograd_geometries(), dtype=st.sampled_from([numpy.float32, numpy.float64]),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_forward_and_gradients_match_the_conv2d_reference(tile, g, dtype, bias, seed):
    N, C, OC, H, W, PH, PW = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((OC, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype) if bias else None
    geometry = (1, 1, PH, PW, 1, 1, 1)
    y = conv2d_winograd_forward(x, weight, b, PH, PW, tile)
    assert_kernel_close(y, conv2d_forward_reference(x, weight, b, *geometry), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = conv2d_winograd_backward(gy, x, weight, PH, PW, tile, True, True, True)
    want = conv2d_backward_reference(gy, x, weight, *geometry, True, True, True)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, dtype)


def test_backward_returns_only_what_is_needed():
    x, weight = numpy.ones((1, 2, 5, 5)), numpy.ones((3, 2, 3, 3))
    gy = numpy.ones((1, 3, 5, 5))
    gx, gweight, gbias = conv2d_winograd_backward(gy, x, weight, 1, 1, 2, False, True, False)
    assert gx is None and gbias is None and gweight.shape == (3, 2, 3, 3)
    gx, gweight, gbias = conv2d_winograd_backward(gy, x, weight, 1, 1, 2, True, False, True)
    assert gweight is None and gx.shape == x.shape and gbias.shape == (3,)


def test_chunks_of_the_batch_give_the_same_result():
    rng = numpy.random.default_rng(0)
    x, weight = rng.standard_normal((5, 3, 9, 7)), rng.standard_normal((4, 3, 3, 3))
    whole = conv2d_winograd_forward(x, weight, None, 1, 1, 4)
    gy = rng.standard_normal(whole.shape)
    whole_grads = conv2d_winograd_backward(gy, x, weight, 1, 1, 4, True, True, False)
    before = minicnn.get_workspace()
    minicnn.set_workspace(1)  # one image per chunk
    try:
        chunked = conv2d_winograd_forward(x, weight, None, 1, 1, 4)
        chunked_grads = conv2d_winograd_backward(gy, x, weight, 1, 1, 4, True, True, False)
    finally:
        minicnn.set_workspace(before)
    numpy.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
    for a, e in zip(chunked_grads[:2], whole_grads[:2]):
        numpy.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tile", WINOGRAD_TILES)
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_gradcheck_in_float64(tile, padding):
    rng = numpy.random.default_rng(padding)
    x = minicnn.Tensor(rng.standard_normal((2, 2, 5, 6)))
    w = minicnn.Tensor(rng.standard_normal((3, 2, 3, 3)))
    b = minicnn.Tensor(rng.standard_normal(3))
    assert minicnn.gradcheck(
        lambda x, w, b: F.conv2d_winograd(x, w, b, padding=padding, tile=tile), [x, w, b])


@pytest.mark.parametrize("tile", WINOGRAD_TILES)
def test_matches_pytorch_in_float32(tile):
    rng = numpy.random.default_rng(tile)
    x = rng.standard_normal((2, 4, 9, 10)).astype(numpy.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(numpy.float32)
    b = rng.standard_normal(5).astype(numpy.float32)
    assert_torch_parity(lambda x, w, b: F.conv2d_winograd(x, w, b, padding="same", tile=tile),
                        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1),
                        [x, w, b])


@pytest.mark.parametrize("layer, applies", [
    ((3, 3, 1, 1, 1, 1, 1, 1, 1), True),
    ((3, 3, 1, 1, 0, 2, 1, 1, 1), True),
    ((3, 3, 2, 2, 1, 1, 1, 1, 1), False),   # stride 2
    ((5, 5, 1, 1, 2, 2, 1, 1, 1), False),   # 5x5
    ((3, 3, 1, 1, 2, 2, 2, 2, 1), False),   # dilation 2
    ((3, 3, 1, 1, 1, 1, 1, 1, 2), False),   # two groups
    ((3, 3, 1, 1, 3, 3, 1, 1, 1), False),   # padding beyond 2
])
def test_winograd_applies_to_3x3_stride1_layers_only(layer, applies):
    assert winograd_applies(*layer) == applies


@pytest.mark.parametrize("kwargs, match", [
    (dict(stride=2), r"conv2d_winograd: expected a 3x3 kernel, stride 1.*got.*stride \(2, 2\)"),
    (dict(dilation=2), r"dilation \(2, 2\), groups 1, padding \(0, 0\); use F.conv2d"),
    (dict(padding=3), r"padding \(3, 3\); use F.conv2d"),
    (dict(tile=3), r"conv2d_winograd: tile must be one of \(2, 4\), got 3"),
])
def test_refuses_layers_that_are_not_winograds(kwargs, match):
    x = minicnn.Tensor(numpy.zeros((1, 2, 8, 8)))
    w = minicnn.Tensor(numpy.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=match):
        F.conv2d_winograd(x, w, **kwargs)


def test_refuses_a_5x5_kernel_and_two_groups():
    x = minicnn.Tensor(numpy.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match=r"got kernel \(5, 5\)"):
        F.conv2d_winograd(x, minicnn.Tensor(numpy.zeros((2, 2, 5, 5))))
    with pytest.raises(ValueError, match="groups 2"):
        F.conv2d_winograd(x, minicnn.Tensor(numpy.zeros((2, 1, 3, 3))), groups=2)
