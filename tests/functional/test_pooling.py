"""Tests of minicnn/functional/pooling.py: max, average and adaptive pooling.

Finite differences (float64), the PyTorch oracle (float64 and float32,
forward and backward), ties, PyTorch's output-size and divisor rules, and
input validation. Shapes are drawn by hypothesis and kept tiny. Tests using
the kernel_backend fixture (tests/conftest.py) run once per kernel backend: on
the NumPy references, on numba's kernels, ...; tests about the references
themselves (spies) use reference_backend.
"""
import importlib

import numpy
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.functional import pooling as pool_module
from minicnn.testing import assert_torch_parity

# minicnn.backend is the context-manager function; the module holds the kernel table
backend_module = importlib.import_module("minicnn.backend")
DTYPES = [numpy.float64, numpy.float32]
TF = torch.nn.functional


def randn(rng, shape, dtype=numpy.float64):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- strategies
@st.composite
def pool_cases(draw, dilated=True):
    """(x shape, keyword arguments) of a max/avg pooling whose output is non-empty."""
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 3), st.integers(1, 3))))
    PH, PW = draw(st.integers(0, KH // 2)), draw(st.integers(0, KW // 2))
    DH, DW = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    ceil_mode = draw(st.booleans())
    H = draw(st.integers(max(1, DH * (KH - 1) + 1 - 2 * PH), 7))
    W = draw(st.integers(max(1, DW * (KW - 1) + 1 - 2 * PW), 7))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    SH, SW = (KH, KW) if stride is None else numpy.broadcast_to(stride, 2)
    for size, K, S, P, D in [(H, KH, SH, PH, DH), (W, KW, SW, PW, DW)]:
        out = pool_module.pool_output_size(size, K, int(S), P, D, ceil_mode)
        # a dilated window may tap only padding: max_pool2d rejects that (tested below)
        assume(pool_module._padding_only_window(size, out, K, int(S), P, D) is None)
    kw = dict(kernel_size=(KH, KW) if KH != KW else KH, stride=stride,
              padding=(PH, PW), ceil_mode=ceil_mode)
    if dilated:
        kw["dilation"] = (DH, DW)
    return (N, C, H, W), kw


@st.composite
def avg_cases(draw):
    shape, kw = draw(pool_cases(dilated=False))
    kw["count_include_pad"] = draw(st.booleans())
    kw["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    return shape, kw


@st.composite
def adaptive_cases(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    out = st.integers(1, 8)
    output_size = draw(st.one_of(out, st.tuples(out, out),
                                 st.tuples(st.none(), out), st.tuples(out, st.none())))
    return (N, C, H, W), output_size


# ----------------------------------------------------------------- max pool
@pytest.mark.usefixtures("kernel_backend")
@given(pool_cases())
def test_max_pool2d_gradcheck(case):
    shape, kw = case
    # distinct values (a shuffled range) keep every window's maximum unique
    # by far more than the finite-difference step
    rng = numpy.random.default_rng(0)
    x = rng.permutation(numpy.prod(shape)).reshape(shape) * 0.1
    assert minicnn.gradcheck(lambda t: F.max_pool2d(t, **kw), [x])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@given(pool_cases())
def test_max_pool2d_matches_torch(dtype, case):
    shape, kw = case
    x = randn(numpy.random.default_rng(0), shape, dtype)
    assert_torch_parity(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])


@pytest.mark.usefixtures("kernel_backend")
@given(pool_cases(), st.sampled_from(["constant", "integers"]))
def test_max_pool2d_ties_match_torch(case, kind):
    # with ties, the gradient goes to the first maximum in row-major window order
    shape, kw = case
    if kind == "constant":
        x = numpy.full(shape, 2.0)
    else:
        x = numpy.random.default_rng(0).integers(-1, 2, shape).astype(numpy.float64)
    assert_torch_parity(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])


def test_max_pool2d_tie_goes_to_the_first_maximum(kernel_backend):
    # a constant 3x3 image, 2x2 windows at stride 1: window (r, c) has its first
    # (top-left) element at (r, c), so only those four pixels get gradient
    x = minicnn.Tensor(numpy.ones((1, 1, 3, 3)), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    expected = numpy.zeros((3, 3))
    expected[:2, :2] = 1.0
    numpy.testing.assert_array_equal(x.grad[0, 0], expected)


def test_max_pool2d_all_minus_infinity_windows(kernel_backend):
    # a window of -inf still picks a real pixel (never the padding)
    x = numpy.full((1, 1, 3, 3), -numpy.inf)
    forward = backend_module.kernel("max_pool2d_forward",
                                    pool_module.max_pool2d_forward_reference, like=x)
    y, argmax = forward(x, 3, 3, 2, 2, 1, 1, 2, 2)
    assert numpy.all(y == -numpy.inf)
    numpy.testing.assert_array_equal(argmax[0, 0], [[0, 1], [3, 4]])


def test_max_pool2d_alexnet_overlapping_pooling(rng, kernel_backend):
    # AlexNet: 3x3 windows at stride 2 on a 55x55 map -> 27x27
    x = randn(rng, (1, 2, 55, 55), numpy.float32)
    (y,), _ = assert_torch_parity(lambda t: F.max_pool2d(t, 3, stride=2),
                                  lambda t: TF.max_pool2d(t, 3, stride=2), [x])
    assert y.shape == (1, 2, 27, 27)


# ----------------------------------------------------------------- avg pool
@pytest.mark.usefixtures("kernel_backend")
@given(avg_cases())
def test_avg_pool2d_gradcheck(case):
    shape, kw = case
    x = randn(numpy.random.default_rng(0), shape)
    assert minicnn.gradcheck(lambda t: F.avg_pool2d(t, **kw), [x])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@given(avg_cases())
def test_avg_pool2d_matches_torch(dtype, case):
    shape, kw = case
    x = randn(numpy.random.default_rng(0), shape, dtype)
    assert_torch_parity(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_divisor_ignores_ceil_overhang(count_include_pad, kernel_backend):
    # H = 4, kernel 3, stride 2, padding 1, ceil_mode: windows start at rows
    # -1, 1, 3 (input coordinates); the last spans rows 3..5 but the padded
    # input ends at row 4, so it holds row 3 and one padding row
    divisor = pool_module.avg_pool2d_divisor(4, 4, 3, 3, 2, 2, 1, 1, 3, 3,
                                             count_include_pad)
    rows = [3, 3, 2] if count_include_pad else [2, 3, 1]
    numpy.testing.assert_array_equal(divisor, numpy.outer(rows, rows))
    x = numpy.arange(16.0).reshape(1, 1, 4, 4)
    kw = dict(stride=2, padding=1, ceil_mode=True, count_include_pad=count_include_pad)
    assert_torch_parity(lambda t: F.avg_pool2d(t, 3, **kw), lambda t: TF.avg_pool2d(t, 3, **kw),
                        [x])


# ------------------------------------------------------------ adaptive pools
@pytest.mark.usefixtures("kernel_backend")
@given(adaptive_cases())
def test_adaptive_avg_pool2d_gradcheck(case):
    shape, output_size = case
    x = randn(numpy.random.default_rng(0), shape)
    assert minicnn.gradcheck(lambda t: F.adaptive_avg_pool2d(t, output_size), [x])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@given(adaptive_cases())
def test_adaptive_avg_pool2d_matches_torch(dtype, case):
    shape, output_size = case
    x = randn(numpy.random.default_rng(0), shape, dtype)
    assert_torch_parity(lambda t: F.adaptive_avg_pool2d(t, output_size),
                        lambda t: TF.adaptive_avg_pool2d(t, output_size), [x])


def test_adaptive_avg_pool2d_one_is_global_average_pooling(rng, kernel_backend):
    x = randn(rng, (2, 3, 5, 7))
    y = F.adaptive_avg_pool2d(minicnn.Tensor(x), 1).numpy()
    numpy.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)


@pytest.mark.usefixtures("kernel_backend")
@given(adaptive_cases())
def test_adaptive_max_pool2d_gradcheck(case):
    shape, output_size = case
    x = numpy.random.default_rng(0).permutation(numpy.prod(shape)).reshape(shape) * 0.1
    assert minicnn.gradcheck(lambda t: F.adaptive_max_pool2d(t, output_size), [x])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@given(adaptive_cases(), st.booleans())
def test_adaptive_max_pool2d_matches_torch(dtype, case, ties):
    shape, output_size = case
    rng = numpy.random.default_rng(0)
    x = rng.integers(-1, 2, shape).astype(dtype) if ties else randn(rng, shape, dtype)
    assert_torch_parity(lambda t: F.adaptive_max_pool2d(t, output_size),
                        lambda t: TF.adaptive_max_pool2d(t, output_size), [x])


# ----------------------------------------------------------- kernel contract
def test_pooling_goes_through_the_kernel_contract(rng, monkeypatch, reference_backend):
    seen = {}

    def spy(name, reference):
        def fn(*args):
            seen[name] = len(args)
            return reference(*args)
        return fn

    for name in ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                 "avg_pool2d_backward"]:
        ref = getattr(pool_module, name + "_reference")
        monkeypatch.setitem(backend_module._kernels, ("numpy", name), spy(name, ref))
    x = randn(rng, (2, 3, 6, 5))
    assert_torch_parity(lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1),
                        [x])
    assert_torch_parity(lambda t: F.avg_pool2d(t, 2, 1, 1), lambda t: TF.avg_pool2d(t, 2, 1, 1),
                        [x])
    assert seen == {"max_pool2d_forward": 9, "max_pool2d_backward": 3,
                    "avg_pool2d_forward": 10, "avg_pool2d_backward": 9}


# --------------------------------------------------------------- validation
def _t(shape, dtype=numpy.float64):
    return minicnn.Tensor(numpy.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("op", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("shape, args, kw, error, match", [
    ((3, 5, 5), (2,), {}, ValueError, r"expected a 4-D input \(N, C, H, W\), got shape "
                                      r"\(3, 5, 5\)"),
    ((1, 1, 5, 5), (0,), {}, ValueError, r"kernel_size must be >= 1, got 0"),
    ((1, 1, 5, 5), ((2, 2, 2),), {}, TypeError, r"kernel_size must be an int or a pair"),
    ((1, 1, 5, 5), (2,), dict(stride=0), ValueError, r"stride must be >= 1, got 0"),
    ((1, 1, 5, 5), (3,), dict(padding=2), ValueError,
     r"padding should be at most half of the kernel size, but got padding \(2, 2\) for "
     r"kernel_size \(3, 3\)"),
    ((1, 1, 5, 5), ((3, 4),), dict(padding=(1, 3)), ValueError,
     r"padding should be at most half of the kernel size"),
    ((1, 1, 5, 5), (3,), dict(padding=-1), ValueError, r"padding must be >= 0, got -1"),
    ((1, 1, 2, 5), (3,), {}, ValueError,
     r"input size \(2, 5\) is too small: the computed output size is \(0, 1\)"),
])
def test_pool_validation(op, shape, args, kw, error, match):
    with pytest.raises(error, match=op.__name__ + ".*" + match):
        op(_t(shape), *args, **kw)


def test_pool_specific_validation():
    with pytest.raises(TypeError, match=r"max_pool2d: expected a floating-point input, got "
                                        r"dtype int64"):
        F.max_pool2d(_t((1, 1, 4, 4), numpy.int64), 2)
    with pytest.raises(ValueError, match=r"max_pool2d: dilation must be >= 1, got 0"):
        F.max_pool2d(_t((1, 1, 4, 4)), 2, dilation=0)
    with pytest.raises(ValueError, match=r"max_pool2d: input size \(4, 4\) is too small"):
        F.max_pool2d(_t((1, 1, 4, 4)), 3, dilation=2)
    # taps at rows -1 and 1 of a 1-row input: padding only
    with pytest.raises(ValueError, match=r"max_pool2d: the window of output row 0 sees only "
                                         r"padding \(input size \(1, 3\), kernel_size "
                                         r"\(2, 3\)"):
        F.max_pool2d(_t((1, 3, 1, 3)), (2, 3), 1, 1, dilation=(2, 1), ceil_mode=True)
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a non-zero "
                                         r"int, got 0"):
        F.avg_pool2d(_t((1, 1, 4, 4)), 2, divisor_override=0)
    for op in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        name = op.__name__
        with pytest.raises(ValueError, match=name + r": output_size must be >= 1, got"):
            op(_t((1, 1, 4, 4)), (0, 2))
        with pytest.raises(TypeError, match=name + r": output_size must be an int or a pair"):
            op(_t((1, 1, 4, 4)), 1.5)
        with pytest.raises(ValueError, match=name + r": expected a 4-D input"):
            op(_t((4, 4)), 2)
