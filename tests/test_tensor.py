"""minicnn/tensor.py: construction, dtypes, properties, errors, operators."""
import numpy
import pytest

import minicnn
from minicnn import Tensor


def test_python_numbers_default_to_float32():
    assert Tensor([1, 2, 3]).dtype == numpy.float32
    assert Tensor(2.5).dtype == numpy.float32


def test_numpy_arrays_keep_their_dtype():
    assert Tensor(numpy.zeros(3)).dtype == numpy.float64
    assert Tensor(numpy.arange(3)).dtype.kind == "i"
    assert Tensor(numpy.zeros(3), dtype=numpy.float32).dtype == numpy.float32


def test_properties():
    t = Tensor(numpy.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3)
    assert t.ndim == 2
    assert t.size == 6
    assert len(t) == 2
    assert t.device == "cpu"
    assert t.is_leaf
    assert isinstance(t.numpy(), numpy.ndarray)
    assert Tensor([[3.5]]).item() == 3.5
    assert t.T.shape == (3, 2)


def test_item_needs_one_element():
    with pytest.raises(ValueError, match="item: tensor has 6 elements"):
        Tensor(numpy.zeros((2, 3))).item()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point"):
        Tensor(numpy.arange(3), requires_grad=True)


def test_unsupported_data_is_rejected():
    with pytest.raises(TypeError, match="cannot make a tensor"):
        Tensor("abc")


def test_scalar_and_array_operands_keep_tensor_dtype():
    x = Tensor(numpy.ones(3, dtype=numpy.float32))
    assert (x + 1.5).dtype == numpy.float32
    assert (x * numpy.ones(3, dtype=numpy.float64)).dtype == numpy.float32
    assert (numpy.ones(3, dtype=numpy.float64) - x).dtype == numpy.float32
    assert (2 ** x).dtype == numpy.float32


def test_mixing_float_dtypes_names_both():
    a = Tensor(numpy.ones(2, dtype=numpy.float32))
    b = Tensor(numpy.ones(2, dtype=numpy.float64))
    with pytest.raises(TypeError, match="float32 and float64"):
        a * b


def test_reflected_operators_and_values():
    x = Tensor(numpy.array([1.0, 2.0, 4.0]))
    numpy.testing.assert_allclose((1 - x).data, [0, -1, -3])
    numpy.testing.assert_allclose((8 / x).data, [8, 4, 2])
    numpy.testing.assert_allclose((-x).data, [-1, -2, -4])
    numpy.testing.assert_allclose((x ** 2).data, [1, 4, 16])
    numpy.testing.assert_allclose((numpy.ones((2, 3)) @ x).data, [7, 7])


def test_comparisons_give_bool_tensors_without_graph():
    x = Tensor(numpy.array([1.0, 2.0, 3.0]), requires_grad=True)
    m = x > 1.5
    assert m.dtype == numpy.bool_
    assert not m.requires_grad
    assert (x == x).data.all()
    assert (x != 2.0).data.tolist() == [True, False, True]
    assert (x <= 2.0).data.tolist() == [True, True, False]
    assert (x < 2.0).data.tolist() == [True, False, False]
    assert (x >= 2.0).data.tolist() == [False, True, True]


def test_tensor_stays_hashable():
    x = Tensor([1.0])
    assert {x: 1}[x] == 1


def test_repr_shows_dtype_and_grad_fn():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<Mul>" in repr(x * 2)


def test_to_dtype_is_differentiable():
    x = Tensor(numpy.array([1.0, 2.0], dtype=numpy.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == numpy.float64
    (y * y).sum().backward()
    assert x.grad.dtype == numpy.float32
    numpy.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert x.float() is x


def test_to_cpu_is_identity_and_cuda_needs_a_gpu():
    x = Tensor([1.0])
    assert x.to("cpu") is x
    with pytest.raises(minicnn.BackendUnavailableError, match="cuda"):
        x.to("cuda")


def test_detach_cuts_the_graph():
    x = Tensor(numpy.array([1.0]), requires_grad=True)
    d = (x * 2).detach()
    assert d.creator is None and not d.requires_grad
