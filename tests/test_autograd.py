"""minicnn/autograd.py: graph building, backward order, accumulation, release."""
import sys

import numpy
import pytest

import minicnn
from minicnn import Tensor


def test_gradient_of_a_shared_subexpression_is_summed():
    x = Tensor(numpy.array([3.0]), requires_grad=True)
    y = x * x          # used twice below
    z = y + y * x      # z = x^2 + x^3, dz/dx = 2x + 3x^2 = 33
    z.backward()
    numpy.testing.assert_allclose(x.grad, [33.0])


def test_gradients_accumulate_across_backward_calls():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    numpy.testing.assert_allclose(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_deep_chain_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = Tensor(numpy.ones(2), requires_grad=True)
    y = x
    for _ in range(max(5000, limit + 100)):
        y = y + 1.0
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_no_grad_builds_no_graph():
    x = Tensor(numpy.ones(2), requires_grad=True)
    with minicnn.no_grad():
        assert not minicnn.is_grad_enabled()
        y = x * 2
        with minicnn.enable_grad():
            z = x * 2
    assert minicnn.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None


def test_saved_buffers_are_released_after_backward():
    x = Tensor(numpy.ones(3), requires_grad=True)
    y = (x.exp() * x).sum()
    mul = y.creator.inputs[0].creator
    y.backward()
    assert mul.released and not hasattr(mul, "a")
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = Tensor(numpy.array([2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    numpy.testing.assert_allclose(x.grad, [8.0])


def test_backward_on_non_scalar_needs_grad():
    x = Tensor(numpy.ones((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar output.*\(2, 2\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="expected the tensor's shape"):
        (x * 2).backward(numpy.ones(3))
    (x * 2).backward(numpy.ones((2, 2)))
    numpy.testing.assert_allclose(x.grad, 2 * numpy.ones((2, 2)))


def test_backward_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).backward()


def test_only_inputs_that_require_grad_get_one():
    a = Tensor(numpy.ones(2), requires_grad=True)
    b = Tensor(numpy.ones(2))
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_unused_output_of_a_multi_output_op_gets_zero_gradient():
    class Split(minicnn.autograd.Function):
        def forward(self, x):
            return x[:1].copy(), x[1:].copy()

        def backward(self, g1, g2):
            return numpy.concatenate([g1, g2])

    x = Tensor(numpy.arange(3.0), requires_grad=True)
    first, _ = Split()(x)
    (first * 5).sum().backward()
    numpy.testing.assert_allclose(x.grad, [5.0, 0.0, 0.0])
