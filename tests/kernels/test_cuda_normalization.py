"""minicnn/kernels/cuda/normalization.py: LRN and fused BatchNorm against the references.

The Numba CUDA twins run here (on Numba's CUDA simulator without a GPU); the
BatchNorm blocks reduce in shared memory, so several block sizes are drawn.
"""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.functional.normalization import (  # noqa: E402
    batch_norm_backward_reference,
    batch_norm_forward_reference,
    lrn_backward_reference,
    lrn_forward_reference,
)
from minicnn.kernels.cuda import normalization  # noqa: E402

TOL = {numpy.float32: dict(rtol=1e-5, atol=1e-5), numpy.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@given(st.integers(1, 2), st.integers(1, 6), st.sampled_from([(), (3,), (2, 3)]),
       st.integers(1, 7), DTYPES)
def test_lrn_matches_reference(N, C, rest, size, dtype):
    shape = (N, C) + rest
    rng = numpy.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    args = (size, 1e-2, 0.75, 2.0)
    y, scale = normalization.lrn_forward(x, *args)
    ry, rscale = lrn_forward_reference(x, *args)
    numpy.testing.assert_allclose(scale, rscale, **TOL[dtype])
    numpy.testing.assert_allclose(y, ry, **TOL[dtype])
    gy = rng.standard_normal(shape).astype(dtype)
    gx = normalization.lrn_backward(gy, x, y, scale, *args)
    numpy.testing.assert_allclose(gx, lrn_backward_reference(gy, x, ry, rscale, *args),
                                  **TOL[dtype])


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), DTYPES,
       st.booleans(), st.booleans())
def test_batch_norm_matches_reference(N, C, L, dtype, with_weight, with_bias):
    rng = numpy.random.default_rng(7)
    x3 = (rng.standard_normal((N, C, L)) * 3 + 1).astype(dtype)
    weight = rng.standard_normal(C).astype(dtype) if with_weight else None
    bias = rng.standard_normal(C).astype(dtype) if with_bias else None
    got = normalization.batch_norm_forward(x3, weight, bias, 1e-5)
    want = batch_norm_forward_reference(x3, weight, bias, 1e-5)
    for g, r in zip(got, want):
        assert g.shape == r.shape and g.dtype == dtype
        numpy.testing.assert_allclose(g, r, **TOL[dtype])
    _, mean, _, inv_std = got
    gy3 = rng.standard_normal((N, C, L)).astype(dtype)
    got = normalization.batch_norm_backward(gy3, x3, mean, inv_std, weight)
    want = batch_norm_backward_reference(gy3, x3, mean, inv_std, weight)
    numpy.testing.assert_allclose(got[0], want[0], **TOL[dtype])
    for g, r in zip(got[1:], want[1:]):  # the reference may skip gweight without weight
        if r is not None:
            numpy.testing.assert_allclose(g, r, **TOL[dtype])
