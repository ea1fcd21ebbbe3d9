"""minicnn/autograd.py: the Tensor (construction, dtypes, properties, errors,
operators), graph building, backward order, accumulation, release."""
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


# ---------------------------------------------------------------- the Tensor
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
    with pytest.raises(ValueError, match=r"item: only one-element tensors .* shape \(2, 3\)"):
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


def test_arithmetic_promotes_float_dtypes_but_layers_name_both():
    a = Tensor(numpy.ones(2, dtype=numpy.float32))
    b = Tensor(numpy.ones(2, dtype=numpy.float64))
    assert (a * b).dtype == numpy.float64           # as torch: float32 * float64
    weight = Tensor(numpy.ones((3, 2), dtype=numpy.float32))
    with pytest.raises(TypeError, match="float64 and float32"):
        minicnn.functional.linear(Tensor(numpy.ones((1, 2))), weight)


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


# ------------------------------------------------------- Python number habits
def test_one_element_tensors_act_as_python_numbers():
    loss = Tensor(numpy.array([0.05]))
    assert loss < 0.1                      # `if loss < 0.1:` works
    assert float(loss) == 0.05 and int(Tensor(3.7)) == 3
    assert f"{loss:.3f}" == "0.050"
    assert [10, 20, 30][Tensor(numpy.array(1))] == 20     # __index__


def test_truth_of_several_values_is_ambiguous():
    with pytest.raises(RuntimeError, match=r"ambiguous \(shape \(2,\)\).*\.all\(\) or \.any\(\)"):
        bool(Tensor([1.0, -1.0]) > 0)
    assert (Tensor([1.0, 2.0]) > 0).all() and not (Tensor([1.0, 2.0]) > 5).any()


def test_conversions_of_several_values_say_how_to_reduce():
    t = Tensor(numpy.ones((2, 3)))
    for convert in (float, int):
        with pytest.raises(ValueError, match=r"one-element tensors .* \(2, 3\).*\.sum\(\)"):
            convert(t)
    with pytest.raises(TypeError, match="format spec '.3f' needs a one-element tensor"):
        f"{t:.3f}"
    assert f"{t}" == str(t)
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][Tensor(1.0)]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))


# ------------------------------------------------------------- type promotion
def test_uint8_images_become_float_instead_of_wrapping():
    img = Tensor(numpy.array([0, 128, 255], dtype=numpy.uint8))
    numpy.testing.assert_allclose((img * (1 / 255)).data, [0, 128 / 255, 1], rtol=1e-6)
    assert (img * (1 / 255)).dtype == numpy.float32
    assert (img / 255).dtype == numpy.float32
    numpy.testing.assert_allclose((img - 127.5).data, [-127.5, 0.5, 127.5])
    numpy.testing.assert_allclose((Tensor(numpy.arange(3)) * 2.5).data, [0, 2.5, 5])


def test_integer_results_that_would_wrap_raise():
    img = Tensor(numpy.array([0, 128, 255], dtype=numpy.uint8))
    with pytest.raises(OverflowError, match=r"sub: the result does not fit uint8 .* t.float\(\)"):
        img - 128
    with pytest.raises(OverflowError, match="300 does not fit the tensor's dtype uint8"):
        img + 300
    assert (img + 0).dtype == numpy.uint8                   # in range: stays uint8


# ------------------------------------------------------ grad_fn, hooks, retain
def test_grad_fn_names_the_function_and_leaves_have_none():
    x = Tensor(numpy.ones(2), requires_grad=True)
    y = minicnn.functional.relu(x)
    assert x.grad_fn is None and x.is_leaf
    assert type(y.grad_fn).__name__ == "ReLUFunction" and not y.is_leaf
    assert "grad_fn=<ReLUFunction>" in repr(y)
    assert y.creator is y.grad_fn                    # DeZero's name for it


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    numpy.testing.assert_allclose(y.grad, 2 * y.data)   # d(y^2)/dy
    z = x * 2
    (z * z).sum().backward()
    assert z.grad is None                                # not retained


def test_hook_replaces_the_gradient_and_can_be_removed():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.copy()) or g * 10)
    y = x * x + x                                        # two paths into x
    y.sum().backward()
    assert len(seen) == 1                                # once, with the sum of both paths
    numpy.testing.assert_allclose(seen[0], 2 * x.data + 1)
    numpy.testing.assert_allclose(x.grad, 10 * (2 * x.data + 1))
    handle.remove()
    x.zero_grad()
    (x * 1).sum().backward()
    numpy.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_hook_on_an_intermediate_changes_what_flows_upstream():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g * 0)
    (y * y).sum().backward()
    numpy.testing.assert_allclose(x.grad, [0.0, 0.0])


def test_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).register_hook(print)


# ------------------------------------------------------------- custom Functions
class Exp(minicnn.Function):
    def forward(self, x):
        xp = minicnn.get_array_module(x)
        self.y = xp.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Scale(minicnn.Function):
    def __init__(self, k):
        self.k = k                        # a setting: survives backward

    def forward(self, x):
        return x * self.k

    def backward(self, gy):
        return gy * self.k


def test_a_function_instance_can_be_called_twice():
    a = Tensor(numpy.array([0.5]), requires_grad=True)
    b = Tensor(numpy.array([1.5]), requires_grad=True)
    exp = Exp()
    (exp(a) + exp(b)).sum().backward()
    numpy.testing.assert_allclose(a.grad, numpy.exp(0.5))
    numpy.testing.assert_allclose(b.grad, numpy.exp(1.5))


def test_settings_from_init_survive_backward():
    x = Tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    scale = Scale(3.0)
    scale(x).sum().backward()
    scale(x).sum().backward()                    # the second call still has self.k
    numpy.testing.assert_allclose(x.grad, [6.0, 6.0])
    assert scale.k == 3.0


class ReturnsList(minicnn.Function):
    def forward(self, x):
        return [x, x]


class ReturnsTensorGrad(minicnn.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return Tensor(gy * 2)


class ReturnsFloat64Grad(minicnn.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return (gy * 2).astype(numpy.float64)


def test_forward_and_backward_return_types_are_checked_by_name():
    x = Tensor(numpy.ones(2, dtype=numpy.float32), requires_grad=True)
    with pytest.raises(TypeError, match="ReturnsList.forward returned a list as output 0"):
        ReturnsList()(x)
    with pytest.raises(TypeError, match="ReturnsTensorGrad.backward returned a Tensor"):
        ReturnsTensorGrad()(x).sum().backward()
    with pytest.raises(TypeError, match=r"ReturnsFloat64Grad.backward returned a float64 "
                                        r"gradient for input 0 of dtype float32"):
        ReturnsFloat64Grad()(x).sum().backward()


def test_backward_through_a_freed_interior_node_names_it():
    x = Tensor(numpy.ones((2, 3)), requires_grad=True)
    w = Tensor(numpy.ones((4, 3)), requires_grad=True)
    hidden = minicnn.functional.linear(x, w) * 2
    hidden.sum().backward()
    with pytest.raises(RuntimeError, match=r"Mul \(generation \d+\) was already "
                                           r"back-propagated.*retain_graph=True"):
        (hidden * 3).sum().backward()


# --------------------------------------------------------- in-place changes
def test_in_place_change_of_a_saved_tensor_is_refused_at_backward():
    buf = numpy.array([1.0, 2.0])
    a = Tensor(numpy.array([3.0, 4.0]), requires_grad=True)
    b = Tensor(buf)
    y = a * b                                   # Mul saves b for d(ab)/da
    b.zero_()
    with pytest.raises(RuntimeError, match=r"saved by Mul for backward was changed in "
                                           r"place after forward \(version 0 -> 1\)"):
        y.sum().backward()


def test_optimizer_step_and_init_bump_the_version():
    layer = minicnn.nn.Linear(3, 2)
    out = layer(Tensor(numpy.ones((1, 3), dtype=numpy.float32))).sum()
    minicnn.nn.init.zeros_(layer.weight)
    with pytest.raises(RuntimeError, match="changed in place"):
        out.backward()
    out = layer(Tensor(numpy.ones((1, 3), dtype=numpy.float32))).sum()
    out.backward(retain_graph=True)
    minicnn.optim.SGD(layer.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match="changed in place"):
        out.backward()


def test_unsaved_inputs_may_change():
    a = Tensor(numpy.array([3.0]), requires_grad=True)
    b = Tensor(numpy.array([1.0]))
    y = a + b                                   # Add saves no arrays
    b.fill_(5.0)
    y.sum().backward()
    numpy.testing.assert_allclose(a.grad, [1.0])


def test_setitem_on_a_leaf_that_requires_grad_needs_no_grad():
    p = Tensor(numpy.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        p[0] = 1.0
    with minicnn.no_grad():
        p[0] = 1.0
    assert p.data[0] == 1.0 and p._version == 1


# ------------------------------------------------------ parity with PyTorch
import itertools  # noqa: E402  (the parity section's own imports)

import torch  # noqa: E402

_DTYPES = [numpy.uint8, numpy.int64, numpy.float32, numpy.float64]
_TORCH = {numpy.uint8: torch.uint8, numpy.int64: torch.int64,
          numpy.float32: torch.float32, numpy.float64: torch.float64}
_OPS = {"add": lambda p, q: p + q, "sub": lambda p, q: p - q,
        "mul": lambda p, q: p * q, "div": lambda p, q: p / q}


def _pair(dtype):
    # big - small never underflows, so no case depends on wrap-around
    return numpy.array([5, 6, 7], dtype=dtype), numpy.array([1, 2, 3], dtype=dtype)


@pytest.mark.parametrize("op", list(_OPS))
@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("scalar", [3, 0.5, True])
def test_tensor_scalar_promotion_matches_torch(op, dtype, scalar):
    if op == "sub" and scalar is True:
        pytest.skip("torch refuses subtraction with a bool")
    big, _ = _pair(dtype)
    fn = _OPS[op]
    ours, theirs = fn(Tensor(big), scalar), fn(torch.from_numpy(big), scalar)
    assert ours.dtype == numpy.dtype(str(theirs.dtype).replace("torch.", ""))
    numpy.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    if op == "sub" and dtype == numpy.uint8 and isinstance(scalar, int):
        return  # 3 - [5, 6, 7] wraps in torch's uint8; minicnn raises (tested above)
    r_ours, r_theirs = fn(scalar, Tensor(big)), fn(scalar, torch.from_numpy(big))
    assert r_ours.dtype == numpy.dtype(str(r_theirs.dtype).replace("torch.", ""))
    numpy.testing.assert_allclose(r_ours.data, r_theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", list(_OPS))
@pytest.mark.parametrize("dtype_a, dtype_b", list(itertools.product(_DTYPES, _DTYPES)))
def test_tensor_tensor_promotion_matches_torch(op, dtype_a, dtype_b):
    big, _ = _pair(dtype_a)
    _, small = _pair(dtype_b)
    fn = _OPS[op]
    ours = fn(Tensor(big), Tensor(small))
    theirs = fn(torch.from_numpy(big), torch.from_numpy(small))
    assert ours.dtype == numpy.dtype(str(theirs.dtype).replace("torch.", ""))
    numpy.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("value", [0.0, -2.5, 0.123456, 7.0])
def test_truth_conversion_and_format_match_torch(value):
    # 0-d, like a loss (torch formats only 0-d tensors; minicnn any one-element one)
    ours, theirs = Tensor(numpy.float32(value)), torch.tensor(value, dtype=torch.float32)
    assert bool(ours) == bool(theirs)
    assert float(ours) == float(theirs) and int(ours) == int(theirs)
    for spec in (".3f", ".2e", "", "8.1f"):
        assert format(ours, spec) == format(theirs, spec)
    two = Tensor(numpy.array([value, value]))
    for thing in (two, torch.tensor([value, value])):
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(thing)


def test_retain_grad_and_hooks_match_torch():
    data = numpy.array([0.5, -1.0, 2.0])
    results = []
    for lib, make in ((minicnn, lambda a: Tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        x = make(data.copy())
        x.register_hook(lambda g: g * 2)
        y = x * x
        y.retain_grad()
        y.register_hook(lambda g: g + 1)
        z = (y * 3 + x).sum()
        z.backward()
        grad_x = x.grad if lib is minicnn else x.grad.numpy()
        grad_y = y.grad if lib is minicnn else y.grad.numpy()
        results.append((grad_x, grad_y))
    numpy.testing.assert_allclose(results[0][0], results[1][0])
    numpy.testing.assert_allclose(results[0][1], results[1][1])
