"""minicnn/kernels/cuda/loss.py: fused softmax-cross-entropy against the references.

Forward reduces each row in one block (shared memory); rows longer than the
block make every thread loop, so K is drawn past the simulator's block of 4.
"""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.functional.loss import (  # noqa: E402
    softmax_cross_entropy_backward_reference,
    softmax_cross_entropy_forward_reference,
)
from minicnn.kernels.cuda import loss  # noqa: E402

TOL = {numpy.float32: dict(rtol=1e-5, atol=1e-6), numpy.float64: dict(rtol=1e-12, atol=1e-14)}


@given(st.integers(1, 3), st.integers(1, 12), st.sampled_from([0.0, 0.1, 0.5]),
       st.sampled_from([numpy.float32, numpy.float64]))
def test_softmax_cross_entropy_matches_reference(N, K, label_smoothing, dtype):
    rng = numpy.random.default_rng(10)
    logits = (rng.standard_normal((N, K)) * 5).astype(dtype)
    target = rng.integers(0, K, N).astype(numpy.int64)
    got_loss, probs = loss.softmax_cross_entropy_forward(logits, target, label_smoothing)
    want_loss, want_probs = softmax_cross_entropy_forward_reference(
        logits, target, label_smoothing)
    numpy.testing.assert_allclose(probs, want_probs, **TOL[dtype])
    numpy.testing.assert_allclose(got_loss, want_loss, **TOL[dtype])
    gloss = rng.standard_normal(N).astype(dtype)
    got = loss.softmax_cross_entropy_backward(probs, target, label_smoothing, gloss)
    want = softmax_cross_entropy_backward_reference(want_probs, target, label_smoothing, gloss)
    numpy.testing.assert_allclose(got, want, **TOL[dtype])


def test_softmax_cross_entropy_is_stable_for_large_logits():
    logits = numpy.array([[1000.0, 0.0, -1000.0]])
    got_loss, probs = loss.softmax_cross_entropy_forward(logits, numpy.array([1]), 0.0)
    numpy.testing.assert_allclose(got_loss, [1000.0])
    numpy.testing.assert_allclose(probs, [[1.0, 0.0, 0.0]])
