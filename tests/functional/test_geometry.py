"""Tests of minicnn/functional/_geometry.py: output sizes against PyTorch, the
'same' padding amounts, the pointwise test and the chunk size under the workspace."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn.functional import _geometry as geometry


@given(size=st.integers(1, 40), K=st.integers(1, 7), S=st.integers(1, 4),
       P=st.integers(0, 3), D=st.integers(1, 3))
def test_conv_output_size_matches_torch(size, K, S, P, D):
    if D * (K - 1) + 1 > size + 2 * P:
        return  # the kernel does not fit: torch raises, conv2d checks it first
    x = torch.zeros(1, 1, size, 1)
    w = torch.zeros(1, 1, K, 1)
    want = torch.nn.functional.conv2d(x, w, stride=(S, 1), padding=(P, 0),
                                      dilation=(D, 1)).shape[2]
    assert geometry.conv_output_size(size, K, S, P, D) == want
    assert geometry.conv_output_hw(size, 3, K, 1, S, 1, P, 0, D, 1) == (want, 3)


@given(size=st.integers(1, 20), K=st.integers(1, 5), S=st.integers(1, 4),
       P=st.integers(0, 2), D=st.integers(1, 2), ceil_mode=st.booleans())
def test_pool_output_size_matches_torch(size, K, S, P, D, ceil_mode):
    if P > K // 2 or D * (K - 1) + 1 > size + 2 * P:
        return  # arguments torch's max_pool2d rejects
    x = torch.zeros(1, 1, size, 1)
    want = torch.nn.functional.max_pool2d(x, (K, 1), (S, 1), (P, 0), (D, 1),
                                          ceil_mode=ceil_mode).shape[2]
    assert geometry.pool_output_size(size, K, S, P, D, ceil_mode) == want


@given(size=st.integers(1, 12), K=st.integers(1, 6), D=st.integers(1, 3))
def test_same_padding_keeps_the_size_and_matches_torch(size, K, D):
    before, after = geometry.same_padding(K, D)
    assert before + after == D * (K - 1) and after - before in (0, 1)
    # padding that way, an unpadded convolution keeps the input size ...
    assert size + before + after - D * (K - 1) == size
    # ... and gives torch's padding='same' numbers (the extra at the bottom)
    x = torch.arange(float(size)).reshape(1, 1, size, 1)
    w = torch.arange(1.0, K + 1).reshape(1, 1, K, 1)
    want = torch.nn.functional.conv2d(x, w, padding="same", dilation=(D, 1))
    padded = torch.nn.functional.pad(x, (0, 0, before, after))
    got = torch.nn.functional.conv2d(padded, w, dilation=(D, 1))
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("KH, KW, PH, PW, pointwise", [
    (1, 1, 0, 0, True), (1, 1, 1, 0, False), (1, 1, 0, 1, False), (1, 3, 0, 0, False),
    (3, 1, 0, 0, False), (3, 3, 1, 1, False)])
def test_is_pointwise(KH, KW, PH, PW, pointwise):
    assert geometry.is_pointwise(KH, KW, PH, PW) is pointwise


@pytest.mark.parametrize("SH, SW", [(1, 1), (2, 2), (3, 2)])
def test_pointwise_columns_are_the_strided_input(SH, SW):
    # what is_pointwise promises: im2col of a 1x1 unpadded kernel is x[:, :, ::SH, ::SW]
    x = numpy.random.default_rng(0).standard_normal((2, 3, 7, 5))
    cols = minicnn.functional.conv.im2col_array(x, 1, 1, SH, SW, 0, 0, 1, 1)
    numpy.testing.assert_array_equal(cols, x[:, :, ::SH, ::SW].reshape(2, 3, -1))


@given(N=st.integers(1, 64), column_bytes=st.integers(0, 10**6), buffers=st.integers(0, 3),
       workspace=st.integers(1, 10**7))
def test_chunk_size_fits_the_workspace_and_is_never_zero(N, column_bytes, buffers, workspace):
    previous = minicnn.get_workspace()
    minicnn.set_workspace(workspace)
    try:
        B = geometry.chunk_size(N, column_bytes, buffers)
    finally:
        minicnn.set_workspace(previous)
    assert 1 <= B <= N
    if B > 1:  # more than one image only when they all fit together
        assert B * buffers * column_bytes <= workspace
    if (B + 1) * buffers * column_bytes <= workspace:
        assert B == N  # and as many as fit


@pytest.mark.parametrize("value, minimum, error, match", [
    (1.5, 1, TypeError, r"op: stride must be an int or a pair of ints, got 1.5"),
    ((1, 2, 3), 1, TypeError, r"op: stride must be an int or a pair of ints, got \(1, 2, 3\)"),
    ((1, True), 1, TypeError, r"got \(1, True\)"),
    (0, 1, ValueError, r"op: stride must be >= 1, got 0"),
    ((2, -1), 0, ValueError, r"op: stride must be >= 0, got \(2, -1\)"),
])
def test_pair_errors_are_one_line(value, minimum, error, match):
    with pytest.raises(error, match=match) as info:
        geometry.pair("op", "stride", value, minimum)
    assert "\n" not in str(info.value)


def test_pair_accepts_ints_and_pairs():
    assert geometry.pair("op", "k", 3) == (3, 3)
    assert geometry.pair("op", "k", [3, 5], 1) == (3, 5)
    assert geometry.pair("op", "k", (numpy.int64(2), 0), 0) == (2, 0)
    assert geometry.padding_pair("op", (0, 2)) == (0, 2)
