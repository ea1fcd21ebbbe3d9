"""minicnn/functional/fused.py: batch_norm_relu and add_relu (gradcheck, the
composition, PyTorch parity, errors), and relu(x, inplace=True) absorbed into
the BatchNorm / add node before it, or recorded as its own in-place node."""
import numpy
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn import Tensor
from minicnn.testing import assert_torch_parity, conv_geometries, default_tolerance


@st.composite
def bn_relu_cases(draw):
    """(shape, affine, training, with_stats, momentum) of one batch_norm_relu call."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    N = draw(st.integers(2, 3))
    C = draw(st.integers(1, 3))
    rest = tuple(draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2)))
    affine = draw(st.sampled_from(["both", "weight", "bias", "none"]))
    training = draw(st.booleans())
    with_stats = draw(st.booleans()) or not training   # eval mode needs statistics
    return (N, C) + rest, affine, training, with_stats, draw(st.sampled_from([0.1, 0.5]))


def _inputs(shape, affine, dtype, seed=0):
    """x, then the weight and bias the case has (floats; weight kept away from 0)."""
    rng = numpy.random.default_rng(seed)
    C = shape[1]
    arrays = [(rng.standard_normal(shape) * 2 + 0.5).astype(dtype)]
    if affine in ("both", "weight"):
        arrays.append((rng.standard_normal(C) + 1.5).astype(dtype))
    if affine in ("both", "bias"):
        arrays.append(rng.standard_normal(C).astype(dtype))
    return arrays


def _stats(C, dtype, seed=1):
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal(C).astype(dtype), (rng.random(C) + 0.5).astype(dtype)


def _split(affine, params):
    params = list(params)
    w = params.pop(0) if affine in ("both", "weight") else None
    b = params.pop(0) if affine in ("both", "bias") else None
    return w, b


# ----------------------------------------------------------- batch_norm_relu
@pytest.mark.usefixtures("kernel_backend")
@settings(max_examples=15, deadline=None)
@given(case=bn_relu_cases())
def test_batch_norm_relu_gradcheck(case):
    shape, affine, training, with_stats, momentum = case
    arrays = _inputs(shape, affine, numpy.float64)
    mean0, var0 = _stats(shape[1], numpy.float64)

    def fn(x, *params):
        # copies: training updates the running statistics in place on every call
        stats = (mean0.copy(), var0.copy()) if with_stats else (None, None)
        w, b = _split(affine, params)
        return F.batch_norm_relu(x, *stats, w, b, training=training, momentum=momentum)

    assert minicnn.gradcheck(fn, [Tensor(a) for a in arrays])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@settings(max_examples=15, deadline=None)
@given(case=bn_relu_cases())
def test_batch_norm_relu_equals_the_composition(dtype, case):
    """Forward, every gradient and the updated running statistics equal
    relu(batch_norm(...)) run on the NumPy references."""
    shape, affine, training, with_stats, momentum = case
    arrays = _inputs(shape, affine, dtype)
    gy = numpy.random.default_rng(3).standard_normal(shape).astype(dtype)
    results = []
    for fused in (True, False):
        stats = [s.copy() for s in _stats(shape[1], dtype)] if with_stats else [None, None]
        tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        w, b = _split(affine, tensors[1:])
        with minicnn.use_backend("numpy") if not fused else _same_backend():
            if fused:
                y = F.batch_norm_relu(tensors[0], *stats, w, b, training, momentum)
            else:
                y = F.relu(F.batch_norm(tensors[0], *stats, w, b, training, momentum))
            y.backward(gy)
        results.append([y.data] + [t.grad for t in tensors]
                       + [s for s in stats if s is not None])
    rtol, atol = default_tolerance(dtype)
    for got, want in zip(*results):
        scale = max(1.0, float(numpy.abs(want).max()))
        numpy.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


class _same_backend:
    """A no-op context manager (the fixture's backend stays)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@settings(max_examples=10, deadline=None)
@given(case=bn_relu_cases())
def test_batch_norm_then_inplace_relu_matches_torch(dtype, case):
    shape, affine, training, _, momentum = case
    arrays = _inputs(shape, affine, dtype)
    mean, var = _stats(shape[1], dtype)
    ours_stats = (mean.copy(), var.copy())
    torch_stats = (torch.from_numpy(mean.copy()), torch.from_numpy(var.copy()))

    def ours(x, *params):
        y = F.batch_norm(x, *ours_stats, *_split(affine, params), training, momentum)
        out = F.relu(y, inplace=True)
        assert out is y and type(y.grad_fn).__name__.endswith("ReLUFunction")
        return out

    def theirs(x, *params):
        y = TF.batch_norm(x, *torch_stats, *_split(affine, params), training, momentum)
        return TF.relu(y, inplace=True)

    assert_torch_parity(ours, theirs, arrays)
    rtol, atol = default_tolerance(dtype)
    for a, t in zip(ours_stats, torch_stats):
        numpy.testing.assert_allclose(a, t.numpy(), rtol=rtol, atol=atol)


def test_batch_norm_relu_errors_name_the_op():
    x = Tensor(numpy.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="batch_norm_relu: expected 2-D"):
        F.batch_norm_relu(Tensor(numpy.ones(4)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm_relu: running_var must have shape \(3,\)"):
        F.batch_norm_relu(x, numpy.zeros(3), numpy.ones(2))


# ------------------------------------------------------------------ add_relu
SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@pytest.mark.usefixtures("kernel_backend")
@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_add_relu_gradcheck(shape, seed):
    rng = numpy.random.default_rng(seed)
    # a + b kept at least 0.1 from the kink of ReLU
    s = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    a = rng.standard_normal(shape)
    assert minicnn.gradcheck(F.add_relu, [Tensor(a), Tensor(s - a)])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_add_relu_and_add_then_inplace_relu_match_torch(dtype, shape, seed):
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(shape).astype(dtype) for _ in range(2)]
    assert_torch_parity(F.add_relu, lambda a, b: TF.relu(a + b), arrays)

    def ours(a, b):
        s = a + b
        out = F.relu_(s)
        assert out is s and type(s.grad_fn).__name__ == "AddReLUFunction"
        return out

    assert_torch_parity(ours, lambda a, b: TF.relu(a + b, inplace=True), arrays)


def test_add_relu_errors():
    a = Tensor(numpy.ones((2, 3)))
    with pytest.raises(ValueError, match=r"add_relu: a and b must have the same shape, got "
                                         r"\(2, 3\) and \(3,\)"):
        F.add_relu(a, Tensor(numpy.ones(3)))
    with pytest.raises(TypeError, match="add_relu: a and b must have one floating-point "
                                        "dtype, got float64 and float32"):
        F.add_relu(a, Tensor(numpy.ones((2, 3), dtype=numpy.float32)))


# ---------------------------------------------------- relu(x, inplace=True)
def _bn_out(requires_grad=True, seed=0):
    rng = numpy.random.default_rng(seed)
    x = Tensor(rng.standard_normal((4, 3, 2, 2)), requires_grad=requires_grad)
    return x, F.batch_norm(x, None, None, training=True)


def _grad_of_x(build, seed=0):
    """x's gradient of sum(build(y) * g) with y = batch_norm(x), and the output."""
    x, y = _bn_out(seed=seed)
    out = build(y)
    g = numpy.random.default_rng(5).standard_normal(out.shape)
    out.backward(g)
    return x.grad, out.data.copy()


def test_inplace_relu_overwrites_and_returns_its_input():
    x = Tensor(numpy.array([-1.0, 0.0, 2.0]))
    version = x._version
    assert F.relu(x, inplace=True) is x
    numpy.testing.assert_array_equal(x.data, [0.0, 0.0, 2.0])
    assert x._version == version + 1
    with minicnn.no_grad():       # eval: the same array, written in place
        z = Tensor(numpy.array([-3.0, 4.0]), requires_grad=True)
        data = z.data
        assert F.relu_(z) is z and z.data is data
        numpy.testing.assert_array_equal(data, [0.0, 4.0])


def test_inplace_relu_is_absorbed_into_batch_norm_and_add():
    _, y = _bn_out()
    node = y.grad_fn
    F.relu_(y)
    assert y.grad_fn is node and type(node).__name__ == "BatchNormReLUFunction"
    a = Tensor(numpy.ones((2, 2)), requires_grad=True)
    s = a + a
    F.relu_(s)
    assert type(s.grad_fn).__name__ == "AddReLUFunction" and s.grad_fn.inputs[0] is a
    s.sum().backward()
    numpy.testing.assert_array_equal(a.grad, numpy.full((2, 2), 2.0))


def test_inplace_relu_gives_the_gradients_of_the_out_of_place_relu():
    want_grad, want_out = _grad_of_x(lambda y: F.relu(y))
    grad, out = _grad_of_x(lambda y: F.relu(y, inplace=True))
    numpy.testing.assert_allclose(out, want_out, rtol=1e-12)
    numpy.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)


def test_inplace_relu_after_a_broadcasting_add_records_a_relu_node():
    a = Tensor(numpy.array([[-1.0, 2.0], [3.0, -4.0]]), requires_grad=True)
    b = Tensor(numpy.array([0.5, 0.5]), requires_grad=True)
    s = a + b
    F.relu_(s)
    assert type(s.grad_fn).__name__ == "ReLUFunction"
    s.sum().backward()
    numpy.testing.assert_array_equal(a.grad, [[0.0, 1.0], [1.0, 0.0]])
    numpy.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_hook_and_retain_grad_keep_a_separate_relu_node():
    """A hook on y sees the gradient of y's value before the ReLU (PyTorch's rule
    for hooks registered before an in-place change); so the ReLU is not absorbed."""
    seen = []
    x, y = _bn_out()
    y.register_hook(lambda g: seen.append(g.copy()))
    F.relu_(y)
    assert type(y.grad_fn).__name__ == "ReLUFunction"
    g = numpy.random.default_rng(5).standard_normal(y.shape)
    y.backward(g)
    numpy.testing.assert_array_equal(seen[0], g * (y.data > 0))
    want_grad, _ = _grad_of_x(lambda t: F.relu(t))
    numpy.testing.assert_allclose(x.grad, want_grad, rtol=1e-10, atol=1e-12)

    x, y = _bn_out()
    y.retain_grad()
    F.relu_(y)
    assert type(y.grad_fn).__name__ == "ReLUFunction"
    y.backward(g)
    numpy.testing.assert_array_equal(y.grad, g)   # .grad is of the new value


def test_an_op_that_read_the_input_before_keeps_its_value_and_gradient():
    """y + 1 read y before the in-place ReLU: it saw the pre-activation value, and
    its gradient reaches BatchNorm unmasked (the ReLU is not absorbed)."""
    def build(y):
        before = y + 1.0
        F.relu_(y)
        assert type(y.grad_fn).__name__ == "ReLUFunction"
        return minicnn.ops.add(before * 2.0, y)

    def reference(y):
        return minicnn.ops.add((y + 1.0) * 2.0, F.relu(y))

    grad, out = _grad_of_x(build)
    want_grad, want_out = _grad_of_x(reference)
    numpy.testing.assert_allclose(out, want_out, rtol=1e-12)
    numpy.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)


def test_an_op_that_saved_the_input_fails_in_backward():
    x, y = _bn_out()
    product = y * y                  # Mul saves y's array
    F.relu_(y)
    with pytest.raises(RuntimeError, match=r"changed in place after forward \(version 0 -> 1\)"):
        product.sum().backward()
    x, y = _bn_out()
    e = minicnn.ops.exp(y)           # Exp saves its output e
    F.relu_(e)
    with pytest.raises(RuntimeError, match="saved by Exp for backward was changed in place"):
        e.sum().backward()


def test_changing_the_fused_output_in_place_fails_in_backward():
    _, y = _bn_out()
    F.relu_(y)
    y[0, 0, 0, 0] = 5.0              # the fused node reads its mask from y
    with pytest.raises(RuntimeError, match="saved by BatchNormReLUFunction"):
        y.sum().backward()


def test_inplace_relu_refuses_a_leaf_that_requires_grad():
    x = Tensor(numpy.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="relu_: a leaf Variable that requires grad is "
                                           "being used in an in-place operation"):
        F.relu_(x)
    numpy.testing.assert_array_equal(x.data, numpy.ones(3))
    with pytest.raises(TypeError, match="relu: inplace must be True or False, got 1"):
        F.relu(Tensor(numpy.ones(3)), inplace=1)


def test_graph_shows_one_node_for_batch_norm_then_inplace_relu():
    from minicnn.tools.graph import graph_nodes
    x, y = _bn_out()
    names = [type(fn).__name__ for fn in graph_nodes(F.relu_(y).sum())]
    assert sorted(names) == ["BatchNormReLUFunction", "Sum"]


# --------------------------------------------------------------- conv2d_relu
@pytest.mark.usefixtures("kernel_backend")
@settings(max_examples=10, deadline=None)
@given(g=conv_geometries(max_size=5), bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_relu_gradcheck_and_torch_parity(g, bias, seed):
    N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, groups = g
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((OC, C // groups, KH, KW))]
    if bias:
        arrays.append(rng.standard_normal(OC))
    args = dict(stride=(SH, SW), padding=(PH, PW), dilation=(DH, DW), groups=groups)

    def ours(x, w, b=None):
        return F.conv2d_relu(x, w, b, **args)

    def theirs(x, w, b=None):
        return TF.relu(TF.conv2d(x, w, b, **args))

    assert_torch_parity(ours, theirs, arrays)
    assert_torch_parity(ours, theirs, [a.astype(numpy.float32) for a in arrays])
    # float64 central differences step 1e-6: an output that close to the kink is
    # improbable for normal draws
    assert minicnn.gradcheck(ours, [Tensor(a) for a in arrays])


def test_conv2d_relu_errors_name_the_op():
    with pytest.raises(ValueError, match="conv2d_relu: expected a 4-D weight"):
        F.conv2d_relu(Tensor(numpy.ones((1, 1, 3, 3))), Tensor(numpy.ones((1, 3, 3))))
