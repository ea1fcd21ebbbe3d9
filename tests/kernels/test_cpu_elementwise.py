"""Numba ReLU, dropout, fused softmax-cross-entropy and the SGD step
(kernels/cpu/elementwise.py, loss.py, sgd.py) against their NumPy references."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.functional.activation import relu_backward_reference, relu_forward_reference
from minicnn.functional.dropout import dropout_forward_reference
from minicnn.functional.loss import (
    softmax_cross_entropy_backward_reference,
    softmax_cross_entropy_forward_reference,
)
from minicnn.optim.sgd import _sgd_step_reference
from minicnn.testing import assert_kernel_close

pytest.importorskip("numba")
from minicnn.kernels.cpu import elementwise, loss, sgd  # noqa: E402  (needs numba)

DTYPES = st.sampled_from([numpy.float32, numpy.float64])
SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)



@given(SHAPES, DTYPES, st.integers(0, 2**32 - 1))
def test_relu_matches_reference(shape, dtype, seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0] = numpy.nan  # NaN passes through, as numpy.maximum lets it
    y = elementwise.relu_forward(x)
    numpy.testing.assert_array_equal(y, relu_forward_reference(x))
    gy = rng.standard_normal(shape).astype(dtype)
    assert_kernel_close(elementwise.relu_backward(gy, y), relu_backward_reference(gy, y), dtype)


@given(SHAPES, DTYPES, st.sampled_from([0.0, 0.3, 0.5, 0.9]), st.integers(0, 2**32 - 1))
def test_dropout_matches_reference(shape, dtype, p, seed):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    u = rng.random(shape, dtype=dtype)
    y, mask = elementwise.dropout_forward(x, u, p)
    want_y, want_mask = dropout_forward_reference(x, u, p)
    assert_kernel_close(mask, want_mask, dtype)
    assert_kernel_close(y, want_y, dtype)


@given(st.integers(1, 6), st.integers(1, 7), st.sampled_from([0.0, 0.1, 0.5]), DTYPES,
       st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_matches_reference(N, K, eps, dtype, seed):
    rng = numpy.random.default_rng(seed)
    logits = (rng.standard_normal((N, K)) * 5).astype(dtype)
    target = rng.integers(0, K, N).astype(numpy.int64)
    got_loss, got_probs = loss.softmax_cross_entropy_forward(logits, target, eps)
    want_loss, want_probs = softmax_cross_entropy_forward_reference(logits, target, eps)
    assert_kernel_close(got_loss, want_loss, dtype)
    assert_kernel_close(got_probs, want_probs, dtype)
    gloss = rng.standard_normal(N).astype(dtype)
    assert_kernel_close(loss.softmax_cross_entropy_backward(want_probs, target, eps, gloss),
                 softmax_cross_entropy_backward_reference(want_probs, target, eps, gloss), dtype)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("momentum, dampening, weight_decay, nesterov",
                         [(0.0, 0.0, 0.0, False), (0.9, 0.0, 1e-2, False),
                          (0.9, 0.0, 0.0, True), (0.5, 0.3, 1e-3, False)])
def test_sgd_step_matches_reference_over_steps(dtype, momentum, dampening, weight_decay,
                                               nesterov):
    rng = numpy.random.default_rng(4)
    param = rng.standard_normal((3, 4)).astype(dtype)
    want_param = param.copy()
    buf = numpy.empty_like(param) if momentum else None
    want_buf = numpy.empty_like(param) if momentum else None
    for step in range(3):
        grad = rng.standard_normal(param.shape).astype(dtype)
        args = (0.1, momentum, dampening, weight_decay, nesterov, step == 0)
        assert sgd.sgd_step(param, grad, buf, *args) is None
        _sgd_step_reference(want_param, grad, want_buf, *args)
        assert_kernel_close(param, want_param, dtype)
        if momentum:
            assert_kernel_close(buf, want_buf, dtype)


@given(SHAPES, DTYPES, st.integers(0, 2**32 - 1))
def test_add_relu_and_relu_inplace_match_reference(shape, dtype, seed):
    rng = numpy.random.default_rng(seed)
    a, b = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    want = relu_forward_reference(a + b)
    numpy.testing.assert_array_equal(elementwise.add_relu_forward(a, b), want)
    want_a = relu_forward_reference(a)
    assert elementwise.relu_inplace(a) is a
    numpy.testing.assert_array_equal(a, want_a)
    s = a + b
    strided = numpy.repeat(s, 2, axis=-1)[..., ::2]       # not contiguous: numpy writes it
    elementwise.relu_inplace(strided)
    numpy.testing.assert_array_equal(strided, relu_forward_reference(s))
