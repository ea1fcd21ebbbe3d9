"""minicnn/functional/loss.py: cross_entropy, nll_loss, mse_loss."""
import numpy
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.backend import _kernels
from minicnn.functional import loss as loss_module
from minicnn.testing import assert_torch_parity

# tests using the kernel_backend fixture (tests/conftest.py) run once per kernel
# backend: on the NumPy references, on numba's kernels, ...


@st.composite
def ce_cases(draw):
    """Logit shape (N, K [, d]), labels (some ignored) and the loss options."""
    N, K = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
    rng = numpy.random.default_rng(draw(st.integers(0, 100)))
    logits = rng.standard_normal((N, K) + extra) * 2
    target = rng.integers(0, K, (N,) + extra)
    if draw(st.booleans()):
        target.flat[0] = -100                       # one ignored sample
    weight = rng.random(K) + 0.2 if draw(st.booleans()) else None
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.5]))
    if reduction == "mean" and (target != -100).sum() == 0:
        target.flat[0] = 0                          # 'mean' of nothing is 0/0 = nan
    return logits, target, weight, reduction, smoothing


def _ce(target, weight, reduction, smoothing):
    """The same cross-entropy in minicnn and torch, as closures over the logits."""
    t_torch = torch.from_numpy(target)
    w_torch = None if weight is None else torch.from_numpy(weight)

    def ours(z):
        w = None if weight is None else weight.astype(z.dtype)
        return F.cross_entropy(z, target, weight=w, reduction=reduction,
                               label_smoothing=smoothing)

    def theirs(z):
        w = None if w_torch is None else w_torch.to(z.dtype)
        return TF.cross_entropy(z, t_torch, weight=w, reduction=reduction,
                                label_smoothing=smoothing)
    return ours, theirs


@pytest.mark.usefixtures("kernel_backend")
@given(case=ce_cases())
def test_cross_entropy_gradcheck(case):
    logits, target, weight, reduction, smoothing = case
    ours, _ = _ce(target, weight, reduction, smoothing)
    assert minicnn.gradcheck(ours, [logits])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(case=ce_cases())
def test_cross_entropy_parity_with_torch(dtype, case):
    logits, target, weight, reduction, smoothing = case
    ours, theirs = _ce(target, weight, reduction, smoothing)
    assert_torch_parity(ours, theirs, [logits.astype(dtype)])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@given(case=ce_cases())
def test_cross_entropy_probability_targets(dtype, case):
    logits, _, weight, reduction, smoothing = case
    probs = numpy.random.default_rng(0).random(logits.shape)
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)
    w = None if weight is None else weight.astype(dtype)

    def ours(z, q):
        return F.cross_entropy(z, q, weight=w, reduction=reduction,
                               label_smoothing=smoothing)

    def theirs(z, q):
        return TF.cross_entropy(z, q, weight=None if w is None else torch.from_numpy(w),
                                reduction=reduction, label_smoothing=smoothing)
    assert_torch_parity(ours, theirs, [logits.astype(dtype), probs])
    if dtype == numpy.float64:
        assert minicnn.gradcheck(ours, [logits, probs])


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_huge_logits_give_finite_loss_and_gradient(dtype, kernel_backend):
    z = numpy.array([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    target = numpy.array([1, 0, 2])
    for smoothing in (0.0, 0.2):
        with numpy.errstate(over="raise", invalid="raise", divide="raise"):
            x = minicnn.Tensor(z.copy(), requires_grad=True)
            loss = F.cross_entropy(x, target, label_smoothing=smoothing)
            loss.backward()
        assert numpy.isfinite(loss.item()) and numpy.isfinite(x.grad).all()
        ours, theirs = _ce(target, None, "mean", smoothing)
        assert_torch_parity(ours, theirs, [z])


def test_targets_as_tensor_list_and_unbatched_input(kernel_backend):
    z = numpy.random.default_rng(1).standard_normal((3, 4))
    labels = numpy.array([3, 0, 1])
    expected = F.cross_entropy(z, labels).item()
    assert F.cross_entropy(z, minicnn.Tensor(labels)).item() == expected
    assert F.cross_entropy(z, [3, 0, 1]).item() == expected
    assert_torch_parity(lambda a: F.cross_entropy(a, numpy.array(2)),
                        lambda a: TF.cross_entropy(a, torch.tensor(2)), [z[0]])


def test_cross_entropy_equals_nll_of_log_softmax(kernel_backend):
    z = numpy.random.default_rng(2).standard_normal((5, 3))
    y = numpy.array([0, 2, 1, 1, 0])
    a = F.cross_entropy(z, y).item()
    b = F.nll_loss(F.log_softmax(minicnn.Tensor(z), dim=1), y).item()
    assert a == pytest.approx(b, rel=1e-12)


def test_all_ignored_mean_is_nan_as_torch(kernel_backend):
    z = numpy.zeros((2, 3))
    with numpy.errstate(invalid="ignore", divide="ignore"):
        loss = F.cross_entropy(z, numpy.array([-100, -100])).item()
    assert numpy.isnan(loss)
    assert numpy.isnan(TF.cross_entropy(torch.from_numpy(z),
                                        torch.tensor([-100, -100])).item())


def test_softmax_cross_entropy_kernels_are_dispatched(monkeypatch):
    # about the NumPy dispatch itself: spies on the reference kernels
    calls = []
    for name in ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"):
        ref = getattr(loss_module, f"{name}_reference")
        monkeypatch.setitem(_kernels, ("numpy", name),
                            lambda *a, _n=name, _r=ref: calls.append(_n) or _r(*a))
    with minicnn.use_backend("numpy"):
        z = minicnn.Tensor(numpy.zeros((2, 3)), requires_grad=True)
        F.cross_entropy(z, numpy.array([0, 2]), label_smoothing=0.1).backward()
    assert calls == ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


@st.composite
def nll_cases(draw):
    logits, target, weight, reduction, _ = draw(ce_cases())
    return logits, target, weight, reduction


@pytest.mark.usefixtures("kernel_backend")
@given(case=nll_cases())
def test_nll_loss_gradcheck_and_parity(case):
    x, target, weight, reduction = case
    t_torch = torch.from_numpy(target)
    for dtype in (numpy.float64, numpy.float32):
        w = None if weight is None else weight.astype(dtype)

        def ours(a):
            return F.nll_loss(a, target, weight=w, reduction=reduction)

        def theirs(a):
            return TF.nll_loss(a, t_torch, reduction=reduction,
                               weight=None if w is None else torch.from_numpy(w))
        assert_torch_parity(ours, theirs, [x.astype(dtype)])
    assert minicnn.gradcheck(
        lambda a: F.nll_loss(a, target, weight=weight, reduction=reduction), [x])


@pytest.mark.usefixtures("kernel_backend")
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss_gradcheck_and_parity(shape, reduction):
    rng = numpy.random.default_rng(3)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    fn = lambda a, b: F.mse_loss(a, b, reduction=reduction)        # noqa: E731
    assert minicnn.gradcheck(fn, [x, y])
    for dtype in (numpy.float64, numpy.float32):
        assert_torch_parity(fn, lambda a, b: TF.mse_loss(a, b, reduction=reduction),
                            [x.astype(dtype), y.astype(dtype)])


def test_validation():
    z = numpy.zeros((2, 5))
    with pytest.raises(ValueError, match=r"cross_entropy: target contains label 7, out of "
                                         r"range for K=5 classes"):
        F.cross_entropy(z, numpy.array([0, 7]))
    with pytest.raises(ValueError, match="contains label -1"):
        F.cross_entropy(z, numpy.array([-1, 0]))
    with pytest.raises(ValueError, match="nll_loss: target contains label 5"):
        F.nll_loss(z, numpy.array([5, 0]))
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape "
                                         r"\(2, 5\)"):
        F.cross_entropy(z, numpy.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        F.cross_entropy(z, numpy.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(5,\)"):
        F.cross_entropy(z, numpy.array([0, 1]), weight=numpy.ones(4))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(z, numpy.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="expected floating-point input"):
        F.cross_entropy(numpy.zeros((2, 5), dtype=numpy.int64), numpy.array([0, 1]))
    with pytest.raises(ValueError, match=r"class probabilities and must have the input.s shape"):
        F.cross_entropy(z, numpy.zeros((2, 4)))
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices"):
        F.nll_loss(z, numpy.zeros(2))
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(2, 4\) differs from "
                                         r"input shape \(2, 5\)"):
        F.mse_loss(z, numpy.zeros((2, 4)))


@pytest.mark.parametrize("N,labels", [(0, []), (2, [-100, -100])],
                         ids=["empty-batch", "every-label-ignored"])
def test_cross_entropy_with_nothing_to_average_is_nan_like_torch(N, labels):
    logits = numpy.zeros((N, 3))
    x = minicnn.Tensor(logits, requires_grad=True)
    with numpy.errstate(all="raise"):  # no 0/0 RuntimeWarning either
        loss = F.cross_entropy(x, numpy.array(labels, dtype=numpy.int64))
        loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    tloss = TF.cross_entropy(tx, torch.tensor(labels, dtype=torch.long))
    tloss.backward()
    assert numpy.isnan(float(loss.item())) and torch.isnan(tloss)
    numpy.testing.assert_array_equal(x.grad, tx.grad.numpy())
    assert float(F.cross_entropy(x, numpy.array(labels, dtype=numpy.int64),
                                 reduction="sum").item()) == 0.0
