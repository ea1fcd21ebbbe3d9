"""CrossEntropyLoss, NLLLoss and MSELoss against torch.nn."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn import Tensor, nn
from minicnn.testing import assert_torch_parity

DTYPES = st.sampled_from([numpy.float32, numpy.float64])
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@pytest.mark.usefixtures("kernel_backend")
@given(N=st.integers(1, 4), K=st.integers(2, 5), dtype=DTYPES, reduction=REDUCTIONS,
       smoothing=st.sampled_from([0.0, 0.1]), weighted=st.booleans(),
       ignore=st.booleans(), spatial=st.booleans())
def test_cross_entropy_loss_matches_torch(N, K, dtype, reduction, smoothing, weighted,
                                          ignore, spatial):
    rng = numpy.random.default_rng(12)
    shape = (N, K, 2) if spatial else (N, K)
    logits = rng.standard_normal(shape).astype(dtype)
    target = rng.integers(0, K, size=(N, 2) if spatial else (N,))
    target.flat[0] = 0                    # a class that is never ignored
    ignore_index = 1 if ignore else -100
    weight = rng.uniform(0.5, 2, K).astype(dtype) if weighted else None
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    ours = nn.CrossEntropyLoss(weight=weight, **kwargs)
    theirs = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.from_numpy(weight), **kwargs)
    assert_torch_parity(ours, theirs, [logits, target])
    assert repr(ours) == repr(theirs) == "CrossEntropyLoss()"


def test_cross_entropy_loss_weight_is_a_buffer_as_in_torch():
    w = numpy.array([1.0, 2.0, 3.0], dtype=numpy.float32)
    ours, theirs = nn.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(
        weight=torch.from_numpy(w))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert list(ours.parameters()) == []
    ours.double()
    assert ours.weight.dtype == numpy.float64


@pytest.mark.usefixtures("kernel_backend")
@given(N=st.integers(1, 4), K=st.integers(2, 5), dtype=DTYPES, reduction=REDUCTIONS,
       weighted=st.booleans())
def test_nll_loss_matches_torch(N, K, dtype, reduction, weighted):
    rng = numpy.random.default_rng(13)
    logp = rng.standard_normal((N, K)).astype(dtype)
    target = rng.integers(0, K, size=N)
    weight = rng.uniform(0.5, 2, K).astype(dtype) if weighted else None
    ours = nn.NLLLoss(weight=weight, reduction=reduction)
    theirs = torch.nn.NLLLoss(weight=None if weight is None else torch.from_numpy(weight),
                              reduction=reduction)
    assert_torch_parity(ours, theirs, [logp, target])


@pytest.mark.usefixtures("kernel_backend")
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), dtype=DTYPES,
       reduction=REDUCTIONS)
def test_mse_loss_matches_torch(shape, dtype, reduction):
    rng = numpy.random.default_rng(14)
    a, b = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    assert_torch_parity(nn.MSELoss(reduction), torch.nn.MSELoss(reduction=reduction), [a, b])


def test_losses_validate_arguments_and_labels():
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be 'mean', "
                                         "'sum' or 'none', got 'avg'"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(ValueError, match="NLLLoss: weight must be a 1-D float array"):
        nn.NLLLoss(weight=numpy.ones((2, 2)))
    with pytest.raises(ValueError, match="MSELoss: reduction must be"):
        nn.MSELoss("mean_squared")
    with pytest.raises(ValueError, match="label 7"):
        nn.CrossEntropyLoss()(Tensor(numpy.zeros((2, 3), numpy.float32)), numpy.array([0, 7]))
