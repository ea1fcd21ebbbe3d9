"""minicnn/functional/normalization.py: batch_norm and local_response_norm."""
import numpy
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.backend import _kernels
from minicnn.functional import normalization
from minicnn.testing import assert_torch_parity

# tests using the kernel_backend fixture (tests/conftest.py) run once per kernel
# backend: on the NumPy references, on numba's kernels, ...


@st.composite
def bn_cases(draw):
    """A BN input shape (2-D, 3-D or 4-D, >1 value per channel) and its options."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    rest = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2)))
    if N * int(numpy.prod(rest)) < 2:
        N = 2                                 # training needs more than 1 value per channel
    affine = draw(st.sampled_from(["both", "weight", "bias", "none"]))
    return (N, C) + rest, affine


def _bn_inputs(shape, affine, dtype=numpy.float64, seed=0):
    rng = numpy.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w = (rng.standard_normal(C) + 1).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(C).astype(dtype) if affine in ("both", "bias") else None
    return x, w, b


def _bn_fns(affine, training, stats_ours, stats_torch, momentum=0.1):
    """minicnn/torch closures over (x, [weight], [bias]) for assert_torch_parity."""
    def split(params):
        params = list(params)
        w = params.pop(0) if affine in ("both", "weight") else None
        b = params.pop(0) if affine in ("both", "bias") else None
        return w, b

    def ours(x, *params):
        w, b = split(params)
        return F.batch_norm(x, *stats_ours, weight=w, bias=b, training=training,
                            momentum=momentum)

    def theirs(x, *params):
        w, b = split(params)
        return TF.batch_norm(x, *stats_torch, weight=w, bias=b, training=training,
                             momentum=momentum)
    return ours, theirs


@pytest.mark.usefixtures("kernel_backend")
@given(case=bn_cases(), with_stats=st.booleans())
def test_batch_norm_training_gradcheck(case, with_stats):
    shape, affine = case
    x, w, b = _bn_inputs(shape, affine)
    C = shape[1]
    mean0, var0 = numpy.zeros(C), numpy.ones(C)

    def fn(x, *params):
        # copies: training updates the running statistics in place on every call
        stats = (mean0.copy(), var0.copy()) if with_stats else (None, None)
        return _bn_fns(affine, True, stats, None)[0](x, *params)

    assert minicnn.gradcheck(fn, [x] + [p for p in (w, b) if p is not None])


@pytest.mark.usefixtures("kernel_backend")
@given(case=bn_cases())
def test_batch_norm_eval_gradcheck(case):
    shape, affine = case
    x, w, b = _bn_inputs(shape, affine)
    rng = numpy.random.default_rng(1)
    stats = (rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5)
    fn = _bn_fns(affine, False, stats, None)[0]
    assert minicnn.gradcheck(fn, [x] + [p for p in (w, b) if p is not None])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(case=bn_cases(), training=st.booleans())
def test_batch_norm_parity_with_torch(dtype, case, training):
    shape, affine = case
    x, w, b = _bn_inputs(shape, affine, dtype)
    rng = numpy.random.default_rng(2)
    mean, var = rng.standard_normal(shape[1]).astype(dtype), (
        rng.random(shape[1]) + 0.5).astype(dtype)
    ours_stats = (mean.copy(), var.copy())
    torch_stats = (torch.from_numpy(mean.copy()), torch.from_numpy(var.copy()))
    ours, theirs = _bn_fns(affine, training, ours_stats, torch_stats)
    assert_torch_parity(ours, theirs, [x] + [p for p in (w, b) if p is not None])
    rtol = 1e-9 if dtype == numpy.float64 else 1e-4
    numpy.testing.assert_allclose(ours_stats[0], torch_stats[0].numpy(), rtol=rtol)
    numpy.testing.assert_allclose(ours_stats[1], torch_stats[1].numpy(), rtol=rtol)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (3, 2, 4, 3)])
@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_running_statistics_after_several_steps_equal_torch(shape, momentum,
                                                           kernel_backend):
    rng = numpy.random.default_rng(3)
    C = shape[1]
    ours = (numpy.zeros(C), numpy.ones(C))
    theirs = (torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64))
    for _ in range(5):
        x = rng.standard_normal(shape) * 3 + 2
        F.batch_norm(minicnn.Tensor(x), *ours, training=True, momentum=momentum)
        TF.batch_norm(torch.from_numpy(x), *theirs, training=True, momentum=momentum)
    numpy.testing.assert_allclose(ours[0], theirs[0].numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-12)
    # the evaluation output with those statistics agrees too
    x = rng.standard_normal(shape)
    numpy.testing.assert_allclose(
        F.batch_norm(minicnn.Tensor(x), *ours).numpy(),
        TF.batch_norm(torch.from_numpy(x), *theirs).numpy(), rtol=1e-12)


def test_running_stats_as_tensors_are_updated_in_place(kernel_backend):
    mean = minicnn.Tensor(numpy.zeros(2))
    var = minicnn.Tensor(numpy.ones(2))
    x = numpy.array([[1.0, 2.0], [3.0, 6.0]])
    F.batch_norm(x, mean, var, training=True, momentum=0.5)
    numpy.testing.assert_allclose(mean.numpy(), [1.0, 2.0])
    # unbiased variances 2 and 8: 0.5 * 1 + 0.5 * var
    numpy.testing.assert_allclose(var.numpy(), [1.5, 4.5])


def test_no_running_stats_uses_batch_statistics_even_in_eval(kernel_backend):
    x = numpy.random.default_rng(4).standard_normal((4, 3, 2, 2))
    y_eval = F.batch_norm(x, None, None, training=False).numpy()
    y_train = F.batch_norm(x, None, None, training=True).numpy()
    numpy.testing.assert_allclose(y_eval, y_train)
    numpy.testing.assert_allclose(y_eval.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batch_norm_kernels_are_dispatched(monkeypatch):
    # about the NumPy dispatch itself: spies on the reference kernels
    calls = []
    for name in ("batch_norm_forward", "batch_norm_backward"):
        ref = getattr(normalization, f"{name}_reference")
        monkeypatch.setitem(_kernels, ("numpy", name),
                            lambda *a, _n=name, _r=ref: calls.append(_n) or _r(*a))
    with minicnn.use_backend("numpy"):
        x = minicnn.Tensor(numpy.ones((2, 3, 2, 2)), requires_grad=True)
        F.batch_norm(x * 1, None, None, training=True).sum().backward()
    assert calls == ["batch_norm_forward", "batch_norm_backward"]


def test_batch_norm_validation():
    x = minicnn.Tensor(numpy.ones((1, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when "
                                         r"training, got input size \(1, 3\)"):
        F.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(numpy.ones((1, 2, 1, 1)), numpy.zeros(2), numpy.ones(2), training=True)
    # one value per channel is fine with running statistics in evaluation
    F.batch_norm(x, numpy.zeros(3), numpy.ones(3), training=False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\) .* got \(4,\)"):
        F.batch_norm(numpy.ones((2, 3)), numpy.zeros(4), numpy.ones(3))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\) .* got \(2,\)"):
        F.batch_norm(numpy.ones((2, 3)), None, None, weight=numpy.ones(2), training=True)
    with pytest.raises(ValueError, match=r"expected 2-D .* got shape \(2, 3, 4, 5, 6\)"):
        F.batch_norm(numpy.ones((2, 3, 4, 5, 6)), None, None, training=True)
    with pytest.raises(ValueError, match="give both running_mean and running_var"):
        F.batch_norm(numpy.ones((2, 3)), numpy.zeros(3), None)


# ------------------------------------------------------------------------ LRN
@st.composite
def lrn_cases(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 6))) + tuple(
        draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    size = draw(st.integers(1, 6))
    alpha = draw(st.sampled_from([1e-4, 0.3, 2.0]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.3]))
    k = draw(st.sampled_from([1.0, 2.0, 0.5]))
    return shape, size, alpha, beta, k


@pytest.mark.usefixtures("kernel_backend")
@given(case=lrn_cases())
def test_lrn_gradcheck(case):
    shape, size, alpha, beta, k = case
    x = numpy.random.default_rng(5).standard_normal(shape)
    assert minicnn.gradcheck(lambda a: F.local_response_norm(a, size, alpha, beta, k), [x])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(case=lrn_cases())
def test_lrn_parity_with_torch(dtype, case):
    shape, size, alpha, beta, k = case
    x = numpy.random.default_rng(6).standard_normal(shape).astype(dtype) * 2
    assert_torch_parity(lambda a: F.local_response_norm(a, size, alpha, beta, k),
                        lambda a: TF.local_response_norm(a, size, alpha, beta, k), [x])


def test_alexnet_convention_maps_onto_torch_convention(kernel_backend):
    # the paper: b_c = a_c / (k + alpha * sum_{|c'-c| <= n/2} a_c'^2)^beta, no 1/n
    x = numpy.random.default_rng(7).standard_normal((2, 7, 3, 3)) * 10
    n, k, alpha, beta = 5, 2.0, 1e-4, 0.75
    expected = numpy.empty_like(x)
    for c in range(7):
        window = x[:, max(0, c - n // 2):min(7, c + n // 2 + 1)]
        expected[:, c] = x[:, c] / (k + alpha * (window ** 2).sum(axis=1)) ** beta
    args = F.alexnet_lrn_args()
    assert args == {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}
    numpy.testing.assert_allclose(F.local_response_norm(x, **args).numpy(), expected,
                                  rtol=1e-12)


def test_lrn_kernels_are_dispatched(monkeypatch):
    # about the NumPy dispatch itself: spies on the reference kernels
    calls = []
    for name in ("lrn_forward", "lrn_backward"):
        ref = getattr(normalization, f"{name}_reference")
        monkeypatch.setitem(_kernels, ("numpy", name),
                            lambda *a, _n=name, _r=ref: calls.append(_n) or _r(*a))
    with minicnn.use_backend("numpy"):
        x = minicnn.Tensor(numpy.ones((1, 3, 2, 2)), requires_grad=True)
        F.local_response_norm(x, 3).sum().backward()
    assert calls == ["lrn_forward", "lrn_backward"]


def test_lrn_validation():
    with pytest.raises(ValueError, match=r"expected 3-D or higher .* got shape \(2, 3\)"):
        F.local_response_norm(numpy.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="size must be a positive int, got 0"):
        F.local_response_norm(numpy.ones((1, 2, 3)), 0)
    with pytest.raises(TypeError, match="beta must be a number"):
        F.local_response_norm(numpy.ones((1, 2, 3)), 2, beta=None)
