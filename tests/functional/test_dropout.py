"""minicnn/functional/dropout.py: seeded masks, scaling, gradcheck, parity, errors."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.backend import _kernels
from minicnn.testing import assert_torch_parity

# tests using the kernel_backend fixture (tests/conftest.py) run once per kernel
# backend: on the NumPy references, on numba's kernels, ...

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
probabilities = st.sampled_from([0.0, 0.1, 0.5, 0.75, 1.0])


def _seeded_dropout(seed, p):
    """Dropout that sets the random seed first: the same mask on every call (for gradcheck)."""
    def fn(x):
        minicnn.manual_seed(seed)
        return F.dropout(x, p)
    return fn


def test_same_seed_same_mask_other_seed_other_mask(kernel_backend):
    x = minicnn.Tensor(numpy.ones((4, 50)))
    first = _seeded_dropout(7, 0.5)(x).numpy()
    again = _seeded_dropout(7, 0.5)(x).numpy()
    other = _seeded_dropout(8, 0.5)(x).numpy()
    numpy.testing.assert_array_equal(first, again)
    assert (first != other).any()
    minicnn.manual_seed(7)
    a, b = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    assert (a != b).any()                     # consecutive calls draw fresh masks


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_inverted_scaling_and_drop_rate(dtype, p, kernel_backend):
    minicnn.manual_seed(0)
    y = F.dropout(minicnn.Tensor(numpy.ones(20000, dtype=dtype)), p).numpy()
    assert y.dtype == dtype
    kept = y != 0
    numpy.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.02
    assert abs(y.mean() - 1) < 0.05          # E[y] = x: no rescaling at eval time


@pytest.mark.usefixtures("kernel_backend")
@given(shape=shapes, p=probabilities)
def test_gradcheck_with_reseeding(shape, p):
    x = numpy.random.default_rng(1).standard_normal(shape)
    assert minicnn.gradcheck(_seeded_dropout(3, p), [x])


@pytest.mark.usefixtures("kernel_backend")
@given(shape=shapes, p=probabilities)
def test_parity_with_torch_given_the_same_mask(shape, p):
    # torch draws its own random numbers, so take our mask and apply it in torch
    # (the uniform numbers are drawn in x's dtype, so the mask depends on it)
    for dtype in (numpy.float64, numpy.float32):
        mask = _seeded_dropout(5, p)(minicnn.Tensor(numpy.ones(shape, dtype))).numpy()
        x = numpy.random.default_rng(2).standard_normal(shape).astype(dtype)
        m = torch.from_numpy(mask)
        assert_torch_parity(_seeded_dropout(5, p), lambda a: a * m, [x])


def test_p_one_gives_zeros_and_zero_gradient_p_zero_is_identity(kernel_backend):
    x = minicnn.Tensor(numpy.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    y = F.dropout(x, 1.0)
    y.sum().backward()
    assert not y.numpy().any() and not x.grad.any()
    numpy.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())


def test_eval_mode_is_identity():
    x = minicnn.Tensor(numpy.ones((2, 3)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x


def test_dropout_runs_through_the_kernel_contract(monkeypatch):
    # about the NumPy dispatch itself: spies on the reference kernel
    seen = []

    def spy(x, u, p):
        seen.append((x.shape, u.shape, u.dtype, p))
        return F.dropout.__globals__["dropout_forward_reference"](x, u, p)

    monkeypatch.setitem(_kernels, ("numpy", "dropout_forward"), spy)
    with minicnn.use_backend("numpy"):
        F.dropout(minicnn.Tensor(numpy.ones((2, 3), dtype=numpy.float32)), 0.25)
    assert seen == [((2, 3), (2, 3), numpy.float32, 0.25)]


def test_validation():
    x = minicnn.Tensor(numpy.ones(3))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout: probability p has to be between "
                                             f"0 and 1, but got {p}"):
            F.dropout(x, p)
    with pytest.raises(TypeError, match="dropout: p must be a number"):
        F.dropout(x, "0.5")
    with pytest.raises(TypeError, match="expected a floating-point tensor, got dtype int64"):
        F.dropout(numpy.arange(3), 0.5)
