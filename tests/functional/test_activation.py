"""minicnn/functional/activation.py: gradcheck, PyTorch parity, stability, errors."""
import numpy
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.backend import _kernels
from minicnn.testing import assert_torch_parity

# tests using the kernel_backend fixture (tests/conftest.py) run once per kernel
# backend: on the NumPy references, on numba's kernels, ...

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)

# (name, minicnn op, torch op); softmax-like ops take the dim drawn by the test
ELEMENTWISE = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("leaky_relu_default", F.leaky_relu, TF.leaky_relu),
    ("tanh", F.tanh, torch.tanh),
    ("sigmoid", F.sigmoid, torch.sigmoid),
]
ALONG_DIM = [("softmax", F.softmax, TF.softmax), ("log_softmax", F.log_softmax,
                                                  TF.log_softmax)]


def _data(shape, seed=0):
    x = numpy.random.default_rng(seed).standard_normal(shape)
    # keep values away from the kinks of relu / leaky_relu at 0 (finite differences)
    return numpy.where(numpy.abs(x) < 1e-3, 0.5, x)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("name,op,torch_op", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
@given(shape=shapes)
def test_elementwise_gradcheck_and_parity(name, op, torch_op, shape):
    x = _data(shape)
    assert minicnn.gradcheck(op, [x.copy()])
    assert_torch_parity(op, torch_op, [x])
    assert_torch_parity(op, torch_op, [x.astype(numpy.float32)])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("name,op,torch_op", ALONG_DIM, ids=[e[0] for e in ALONG_DIM])
@given(shape=shapes, data=st.data())
def test_softmax_family_gradcheck_and_parity(name, op, torch_op, shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = _data(shape) * 3
    assert minicnn.gradcheck(lambda a: op(a, dim), [x.copy()])
    assert_torch_parity(lambda a: op(a, dim), lambda a: torch_op(a, dim), [x])
    assert_torch_parity(lambda a: op(a, dim), lambda a: torch_op(a, dim),
                        [x.astype(numpy.float32)])


def test_softmax_rows_sum_to_one_and_implicit_dim_matches_torch():
    x = _data((2, 3, 4))
    y = F.softmax(minicnn.Tensor(x), dim=1).numpy()
    numpy.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    with pytest.warns(UserWarning):
        expected = TF.softmax(torch.from_numpy(x), dim=None).numpy()
    numpy.testing.assert_allclose(F.softmax(minicnn.Tensor(x)).numpy(), expected,
                                  rtol=1e-12)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_huge_inputs_stay_finite(dtype, kernel_backend):
    x = numpy.array([[1e4, -1e4, 0.0], [-800.0, 800.0, 3.0]], dtype=dtype)
    with numpy.errstate(over="raise", invalid="raise", divide="raise"):
        for op, torch_op in [(F.sigmoid, torch.sigmoid),
                             (lambda a: F.softmax(a, 1), lambda a: TF.softmax(a, 1)),
                             (lambda a: F.log_softmax(a, 1), lambda a: TF.log_softmax(a, 1))]:
            t = minicnn.Tensor(x.copy(), requires_grad=True)
            y = op(t)
            y.sum().backward()
            assert numpy.isfinite(y.numpy()).all() and numpy.isfinite(t.grad).all()
            numpy.testing.assert_allclose(y.numpy(), torch_op(torch.from_numpy(x)).numpy(),
                                          rtol=1e-6, atol=1e-30)


def test_relu_gradient_at_zero_is_zero_as_torch(kernel_backend):
    assert_torch_parity(F.relu, TF.relu, [numpy.array([-1.0, 0.0, 2.0])])
    assert_torch_parity(F.leaky_relu, TF.leaky_relu, [numpy.array([-1.0, 0.0, 2.0])])


def test_relu_runs_through_the_kernel_contract(monkeypatch):
    # about the NumPy dispatch itself: spies on the reference kernels
    calls = []
    ref_fwd = F.activation.relu_forward_reference
    ref_bwd = F.activation.relu_backward_reference
    monkeypatch.setitem(_kernels, ("numpy", "relu_forward"),
                        lambda x: calls.append("fwd") or ref_fwd(x))
    monkeypatch.setitem(_kernels, ("numpy", "relu_backward"),
                        lambda gy, y: calls.append("bwd") or ref_bwd(gy, y))
    with minicnn.use_backend("numpy"):
        x = minicnn.Tensor(_data((2, 3)), requires_grad=True)
        F.relu(x).sum().backward()
    assert calls == ["fwd", "bwd"]
    numpy.testing.assert_array_equal(x.grad, (x.data > 0).astype(x.dtype))


@pytest.mark.parametrize("op", [F.relu, F.leaky_relu, F.tanh, F.sigmoid,
                                lambda a: F.softmax(a, 0), lambda a: F.log_softmax(a, 0)])
def test_integer_input_is_rejected(op):
    with pytest.raises(TypeError, match="expected a floating-point tensor, got dtype int64"):
        op(numpy.arange(3))


def test_bad_dim_and_arguments():
    x = minicnn.Tensor(_data((2, 3)))
    with pytest.raises(ValueError, match=r"softmax: dim 2 is out of range .*\(2, 3\)"):
        F.softmax(x, dim=2)
    with pytest.raises(ValueError, match="log_softmax: dim -3 is out of range"):
        F.log_softmax(x, dim=-3)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.softmax(minicnn.Tensor(numpy.float64(1.0)), dim=0)
    with pytest.raises(TypeError, match="negative_slope must be a number"):
        F.leaky_relu(x, negative_slope="0.1")
