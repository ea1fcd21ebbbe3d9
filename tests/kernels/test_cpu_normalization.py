"""Numba LRN and fused BatchNorm (kernels/cpu/lrn.py, batchnorm.py) against the
NumPy references in minicnn/functional/normalization.py."""
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.functional.activation import relu_backward_reference, relu_forward_reference
from minicnn.functional.normalization import (
    batch_norm_backward_reference,
    batch_norm_forward_reference,
    lrn_backward_reference,
    lrn_forward_reference,
)
from minicnn.testing import assert_kernel_close

pytest.importorskip("numba")
from minicnn.kernels.cpu import batchnorm, lrn  # noqa: E402  (needs numba)

DTYPES = st.sampled_from([numpy.float32, numpy.float64])



@given(st.integers(1, 2), st.integers(1, 7), st.sampled_from([(3, 4), (2, 1), (5,)]),
       st.integers(1, 6), st.sampled_from([1e-4, 0.5]), st.sampled_from([0.75, 1.3]),
       st.sampled_from([1.0, 2.0]), DTYPES, st.integers(0, 2**32 - 1))
def test_lrn_matches_reference(N, C, spatial, size, alpha, beta, k, dtype, seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C) + spatial).astype(dtype)
    y, scale = lrn.lrn_forward(x, size, alpha, beta, k)
    want_y, want_scale = lrn_forward_reference(x, size, alpha, beta, k)
    assert_kernel_close(scale, want_scale, dtype)
    assert_kernel_close(y, want_y, dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    assert_kernel_close(lrn.lrn_backward(gy, x, y, scale, size, alpha, beta, k),
                 lrn_backward_reference(gy, x, want_y, want_scale, size, alpha, beta, k), dtype)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 12), st.booleans(),
       st.booleans(), DTYPES, st.integers(0, 2**32 - 1))
def test_batch_norm_matches_reference(N, C, L, has_weight, has_bias, dtype, seed):
    rng = numpy.random.default_rng(seed)
    x3 = (rng.standard_normal((N, C, L)) * 3 + 1).astype(dtype)
    if N * L == 1:
        x3 = numpy.concatenate([x3, x3 + 1], axis=0)  # a constant channel still works
    weight = rng.standard_normal(C).astype(dtype) if has_weight else None
    bias = rng.standard_normal(C).astype(dtype) if has_bias else None
    got = batchnorm.batch_norm_forward(x3, weight, bias, 1e-5)
    want = batch_norm_forward_reference(x3, weight, bias, 1e-5)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, dtype)
    gy3 = rng.standard_normal(x3.shape).astype(dtype)
    got = batchnorm.batch_norm_backward(gy3, x3, want[1], want[3], weight)
    want = batch_norm_backward_reference(gy3, x3, want[1], want[3], weight)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, dtype)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 12), st.booleans(),
       st.booleans(), DTYPES, st.integers(0, 2**32 - 1))
def test_batch_norm_relu_matches_the_composition(N, C, L, has_weight, has_bias, dtype, seed):
    """The one-pass kernels against BatchNorm's reference then ReLU's reference."""
    rng = numpy.random.default_rng(seed)
    x3 = (rng.standard_normal((N, C, L)) * 3 + 1).astype(dtype)
    if N * L == 1:
        x3 = numpy.concatenate([x3, x3 + 1], axis=0)
    weight = rng.standard_normal(C).astype(dtype) if has_weight else None
    bias = rng.standard_normal(C).astype(dtype) if has_bias else None
    got = batchnorm.batch_norm_relu_forward(x3, weight, bias, 1e-5)
    z3, mean, var, inv_std = batch_norm_forward_reference(x3, weight, bias, 1e-5)
    y3 = relu_forward_reference(z3)
    for a, e in zip(got, (y3, mean, var, inv_std)):
        assert_kernel_close(a, e, dtype)
    assert (got[0] >= 0).all() and (got[0][y3 == 0] == 0).all()
    gy3 = rng.standard_normal(x3.shape).astype(dtype)
    got = batchnorm.batch_norm_relu_backward(gy3, x3, y3, mean, inv_std, weight)
    want = batch_norm_backward_reference(relu_backward_reference(gy3, y3), x3, mean,
                                         inv_std, weight)
    for a, e in zip(got, want):
        assert_kernel_close(a, e, dtype)
