"""minicnn/gradcheck.py: finite differences and the coursework checker."""
import numpy
import pytest

import minicnn
from minicnn import Tensor
from minicnn.autograd import Function


def test_numerical_grad_of_a_square():
    x = Tensor(numpy.array([1.0, -2.0, 3.0]))
    (g,) = minicnn.numerical_grad(lambda t: t * t, [x])
    numpy.testing.assert_allclose(g, [2.0, -4.0, 6.0], rtol=1e-6)


def test_numerical_grad_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        minicnn.numerical_grad(lambda t: t, [Tensor([1.0])])


def test_gradcheck_passes_on_correct_ops(rng):
    a = Tensor(rng.standard_normal((3, 4)))
    assert minicnn.gradcheck(lambda a: (a.exp() * a).sum(axis=1), [a])


class WrongSquare(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x  # the bug: should be 2 * x


def test_gradcheck_names_the_input_index_and_error():
    x = Tensor(numpy.array([1.0, 2.0, 3.0]))
    with pytest.raises(minicnn.GradcheckError, match=r"input 0 .* relative error"):
        minicnn.gradcheck(lambda t: WrongSquare()(t), [x])


class BrokenCenter(Function):
    """y = x - mean(x); its outputs always sum to 0, like BatchNorm's."""

    def forward(self, x):
        return x - x.mean()

    def backward(self, gy):
        return gy * 0  # the bug: the true gradient is gy - mean(gy)


def test_random_upstream_gradient_catches_what_a_sum_would_miss():
    x = Tensor(numpy.array([1.0, 2.0, 4.0]))
    # Under a plain sum the true gradient is 0, so this broken backward would pass.
    numeric = minicnn.numerical_grad(lambda t: BrokenCenter()(t), [x])[0]
    numpy.testing.assert_allclose(numeric, 0.0, atol=1e-8)
    with pytest.raises(minicnn.GradcheckError):
        minicnn.gradcheck(lambda t: BrokenCenter()(t), [x])


def test_relative_error_is_cs231n():
    from minicnn.gradcheck import relative_error
    numpy.testing.assert_allclose(relative_error(numpy.array([1.0]), numpy.array([3.0])),
                                  [0.5])
    assert relative_error(numpy.array([0.0]), numpy.array([0.0]))[0] == 0.0
