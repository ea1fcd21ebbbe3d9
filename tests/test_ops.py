"""minicnn/ops.py: every primitive op against finite differences and PyTorch."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Tensor
from minicnn.testing import assert_torch_parity

DTYPES = [numpy.float64, numpy.float32]


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: some axes of the second set to 1 or dropped."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    other = [draw(st.sampled_from([n, 1])) for n in shape]
    drop = draw(st.integers(0, len(other) - 1))
    return tuple(shape), tuple(other[drop:])


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=broadcast_pair(), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_forward_and_backward(name, shapes, seed):
    ours, theirs = BINARY[name]
    r = numpy.random.default_rng(seed)
    a = r.uniform(0.5, 2.0, shapes[0]) * r.choice([-1, 1], shapes[0])
    b = r.uniform(0.5, 2.0, shapes[1])
    assert minicnn.gradcheck(ours, [Tensor(a), Tensor(b)])
    for dtype in DTYPES:
        assert_torch_parity(ours, theirs, [a.astype(dtype), b.astype(dtype)])


UNARY = {
    "exp": (lambda x: x.exp(), lambda x: x.exp(), (-2, 2)),
    "log": (lambda x: x.log(), lambda x: x.log(), (0.2, 3)),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), (0.2, 3)),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), (-2, 2)),
    "neg": (lambda x: -x, lambda x: -x, (-2, 2)),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), (-2, 2)),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3), seed=st.integers(0, 99))
def test_unary_ops(name, shape, seed):
    ours, theirs, (low, high) = UNARY[name]
    x = numpy.random.default_rng(seed).uniform(low, high, shape)
    if name in ("abs", "clip"):  # keep away from the kinks
        x = numpy.where(numpy.abs(x) < 1e-3, 0.1, x)
        x = numpy.where(numpy.abs(x + 0.5) < 1e-3, 0.1, x)
        x = numpy.where(numpy.abs(x - 0.7) < 1e-3, 0.1, x)
    assert minicnn.gradcheck(ours, [Tensor(x)])
    for dtype in DTYPES:
        assert_torch_parity(ours, theirs, [x.astype(dtype)])


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_reductions(shape, data):
    ndim = len(shape)
    axis = data.draw(st.one_of(
        st.none(), st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
        .map(tuple)))
    keepdims = data.draw(st.booleans())
    x = numpy.random.default_rng(len(shape)).standard_normal(shape)
    dims = tuple(range(ndim)) if axis is None else axis
    for ours, theirs in [
        (lambda t: t.sum(axis=axis, keepdims=keepdims),
         lambda t: t.sum(dim=dims, keepdim=keepdims)),
        (lambda t: t.mean(axis=axis, keepdims=keepdims),
         lambda t: t.mean(dim=dims, keepdim=keepdims)),
        (lambda t: t.max(axis=axis, keepdims=keepdims),
         lambda t: t.amax(dim=dims, keepdim=keepdims)),
    ]:
        assert minicnn.gradcheck(ours, [Tensor(x)])
        for dtype in DTYPES:
            assert_torch_parity(ours, theirs, [x.astype(dtype)])


def test_max_shares_the_gradient_between_ties_like_amax():
    x = numpy.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    assert_torch_parity(lambda t: t.max(axis=1), lambda t: t.amax(dim=1), [x])
    assert_torch_parity(lambda t: t.max(), lambda t: t.amax(), [x])


@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       batch=st.sampled_from([(), (2,), (3, 1)]), vec=st.sampled_from(["", "a", "b"]))
def test_matmul(n, k, m, batch, vec):
    r = numpy.random.default_rng(n * 16 + k * 4 + m)
    a = r.standard_normal((k,) if vec == "a" else batch + (n, k))
    b = r.standard_normal((k,) if vec == "b" else (k, m))
    assert minicnn.gradcheck(lambda a, b: a @ b, [Tensor(a), Tensor(b)])
    for dtype in DTYPES:
        assert_torch_parity(lambda a, b: a @ b, lambda a, b: a @ b,
                            [a.astype(dtype), b.astype(dtype)])


def test_matmul_shape_errors():
    with pytest.raises(ValueError, match=r"inner dimensions differ.*\(2, 3\) @ \(4, 5\)"):
        Tensor(numpy.ones((2, 3))) @ Tensor(numpy.ones((4, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        Tensor(numpy.ones((2, 3))) @ Tensor(2.0)


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        Tensor(numpy.ones((2, 3))) + Tensor(numpy.ones(4))


SHAPE_OPS = [
    (lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6)),
    (lambda t: t.reshape((-1, 2)), lambda t: t.reshape(-1, 2)),
    (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
    (lambda t: t[1], lambda t: t[1]),
    (lambda t: t[:, 1:3, ::2], lambda t: t[:, 1:3, ::2]),
    (lambda t: t[..., -1], lambda t: t[..., -1]),
    (lambda t: t[numpy.array([0, 1, 0])], lambda t: t[torch.tensor([0, 1, 0])]),
    (lambda t: t[t > 0], lambda t: t[t > 0]),
]


@pytest.mark.parametrize("ours,theirs", SHAPE_OPS)
def test_shape_ops_and_indexing(ours, theirs, rng):
    x = rng.standard_normal((2, 3, 4))
    assert minicnn.gradcheck(ours, [Tensor(x)])
    for dtype in DTYPES:
        assert_torch_parity(ours, theirs, [x.astype(dtype)])


def test_shape_errors_are_clear():
    x = Tensor(numpy.ones((2, 3)))
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        x.sum(axis=2)


def test_argmax_and_dim_alias():
    x = Tensor(numpy.array([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]]))
    assert x.argmax(axis=1).tolist() == [1, 0]
    numpy.testing.assert_allclose(x.sum(dim=0).data, [8.0, 5.0, 3.0])


def test_broadcast_to_and_cast():
    from minicnn import ops
    x = numpy.array([[1.0], [2.0]])
    assert minicnn.gradcheck(lambda t: ops.broadcast_to(t, (3, 2, 4)), [Tensor(x)])
    y = ops.cast(Tensor(x), numpy.float32)
    assert y.dtype == numpy.float32
