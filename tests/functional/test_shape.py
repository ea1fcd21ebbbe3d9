"""minicnn/functional/shape.py: flatten, cat, pad."""
import numpy
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.testing import assert_torch_parity

# tests using the kernel_backend fixture (tests/conftest.py) run once per kernel
# backend: on the NumPy references, on numba's kernels, ...
shapes = st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)


def _x(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


@pytest.mark.usefixtures("kernel_backend")
@given(shape=shapes, data=st.data())
def test_flatten_parity_and_gradcheck(shape, data):
    n = len(shape)
    start = data.draw(st.integers(-n, n - 1), label="start_dim")
    end = data.draw(st.integers(start % n, n - 1), label="end_dim")
    x = _x(shape)
    fn = lambda a: F.flatten(a, start, end)                       # noqa: E731
    assert minicnn.gradcheck(fn, [x.copy()])
    for dtype in (numpy.float64, numpy.float32):
        assert_torch_parity(fn, lambda a: torch.flatten(a, start, end), [x.astype(dtype)])


def test_flatten_default_keeps_the_batch_axis():
    assert F.flatten(numpy.ones((2, 3, 4, 5))).shape == (2, 60)


@pytest.mark.usefixtures("kernel_backend")
@given(shape=shapes, count=st.integers(1, 3), data=st.data())
def test_cat_parity_and_gradcheck(shape, count, data):
    n = len(shape)
    dim = data.draw(st.integers(-n, n - 1), label="dim")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    parts = []
    for i, size in enumerate(sizes):
        part_shape = list(shape)
        part_shape[dim] = size
        parts.append(_x(tuple(part_shape), seed=i))
    fn = lambda *xs: F.cat(list(xs), dim)                         # noqa: E731
    assert minicnn.gradcheck(fn, [p.copy() for p in parts])
    for dtype in (numpy.float64, numpy.float32):
        assert_torch_parity(fn, lambda *xs: torch.cat(xs, dim),
                            [p.astype(dtype) for p in parts])


def test_cat_gradient_only_for_inputs_that_need_it():
    a = minicnn.Tensor(numpy.ones((2, 2)), requires_grad=True)
    b = minicnn.Tensor(numpy.ones((1, 2)))
    (F.cat([a, b]) * 3).sum().backward()
    numpy.testing.assert_array_equal(a.grad, numpy.full((2, 2), 3.0))
    assert b.grad is None


@st.composite
def pad_cases(draw):
    shape = draw(shapes)
    dims = draw(st.integers(1, len(shape)))
    pad = []
    for d in range(dims):
        n = shape[len(shape) - 1 - d]
        before = draw(st.integers(-n, 2))
        after = draw(st.integers(-(n + min(before, 0)), 2))   # the crop must fit
        pad += [before, after]
    value = draw(st.sampled_from([0, 1.5, -2]))
    return shape, tuple(pad), value


@pytest.mark.usefixtures("kernel_backend")
@given(case=pad_cases())
def test_pad_parity_and_gradcheck(case):
    shape, pad, value = case
    x = _x(shape)
    fn = lambda a: F.pad(a, pad, value=value)                     # noqa: E731
    assert minicnn.gradcheck(fn, [x.copy()])
    for dtype in (numpy.float64, numpy.float32):
        assert_torch_parity(fn, lambda a: TF.pad(a, pad, value=value), [x.astype(dtype)])


def test_pad_order_is_last_dim_first():
    y = F.pad(numpy.ones((1, 2, 3)), (1, 0, 0, 2)).numpy()
    assert y.shape == (1, 4, 4)
    numpy.testing.assert_array_equal(y[0, :2, 0], 0)            # left of W
    numpy.testing.assert_array_equal(y[0, 2:], 0)               # below H
    numpy.testing.assert_array_equal(y[0, :2, 1:], 1)


def test_validation():
    x = numpy.ones((2, 3))
    with pytest.raises(ValueError, match=r"flatten: start_dim=2 is out of range .*\(2, 3\)"):
        F.flatten(x, 2)
    with pytest.raises(ValueError, match="start_dim 1 comes after end_dim 0"):
        F.flatten(x, 1, 0)
    with pytest.raises(ValueError, match=r"cat: sizes of tensors must match except in "
                                         r"dimension 0: tensor 0 has shape \(2, 3\), "
                                         r"tensor 1 has shape \(2, 4\)"):
        F.cat([x, numpy.ones((2, 4))])
    with pytest.raises(ValueError, match="cat: expected a non-empty list"):
        F.cat([])
    with pytest.raises(TypeError, match="cat: expected a list or tuple of tensors"):
        F.cat(minicnn.Tensor(x))
    with pytest.raises(TypeError, match="cat: operands have different dtypes|Cat: operands"):
        F.cat([x, x.astype(numpy.float32)])
    with pytest.raises(ValueError, match="pad: pad must have an even length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pad: pad \(1, 1, 1, 1, 1, 1\) covers 3 dims but "
                                         r"the input has only 2"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"crops more than the dim holds"):
        F.pad(x, (-2, -2))
    with pytest.raises(ValueError, match="only mode='constant' is supported"):
        F.pad(x, (1, 1), mode="reflect")
