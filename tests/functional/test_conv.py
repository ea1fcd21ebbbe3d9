"""Tests of minicnn/functional/conv.py: im2col, col2im and conv2d.

Each op is checked three ways: finite differences (gradcheck, float64), the
PyTorch oracle (forward and backward, float64 and float32), and its input
validation. Shapes are drawn by hypothesis and kept tiny. Tests using the
kernel_backend fixture (tests/conftest.py) run once per kernel backend: on the
NumPy references, on numba's kernels, ...; tests about the references
themselves (spies, call counts) use reference_backend.
"""
import importlib

import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.functional import conv as conv_module
from minicnn.testing import assert_torch_parity

# minicnn.backend is the context-manager function; the module holds the kernel table
backend_module = importlib.import_module("minicnn.backend")
DTYPES = [numpy.float64, numpy.float32]
SAME_WARNING = "ignore:Using padding='same'"


def randn(rng, shape, dtype=numpy.float64):
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- strategies
@st.composite
def geometry(draw, allow_same=True):
    """Kernel, stride, padding, dilation and an input size the kernel fits in."""
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kinds = ["int", "pair", "same", "valid"] if allow_same else ["int", "pair"]
    kind = draw(st.sampled_from(kinds))
    if kind == "same":
        padding, (SH, SW) = "same", (1, 1)
        PH = PW = 0  # any input size works
        lo_h = lo_w = 1
    else:
        SH, SW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        if kind == "valid":
            padding, PH, PW = "valid", 0, 0
        elif kind == "int":
            PH = PW = padding = draw(st.integers(0, 2))
        else:
            PH, PW = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            padding = (PH, PW)
        lo_h = max(1, DH * (KH - 1) + 1 - 2 * PH)
        lo_w = max(1, DW * (KW - 1) + 1 - 2 * PW)
    H = draw(st.integers(lo_h, max(lo_h, 6)))
    W = draw(st.integers(lo_w, max(lo_w, 6)))
    stride = (SH, SW) if SH != SW else SH
    dilation = (DH, DW)
    return dict(kernel=(KH, KW), stride=stride, padding=padding, dilation=dilation,
                size=(H, W))


@st.composite
def conv_cases(draw):
    """x shape, weight shape, bias flag and conv2d keyword arguments."""
    g = draw(geometry())
    N = draw(st.integers(1, 2))
    kind = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if kind == "plain":
        groups, C = 1, draw(st.integers(1, 3))
    elif kind == "grouped":  # AlexNet's two towers
        groups = 2
        C = 2 * draw(st.integers(1, 2))
    else:  # one filter group per input channel
        C = draw(st.integers(1, 3))
        groups = C
    OC = groups * draw(st.integers(1, 2))
    x_shape = (N, C) + g["size"]
    w_shape = (OC, C // groups) + g["kernel"]
    kwargs = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
                  groups=groups)
    return x_shape, w_shape, draw(st.booleans()), kwargs


# ------------------------------------------------------------------- im2col
@pytest.mark.usefixtures("kernel_backend")
@given(geometry(allow_same=False), st.integers(1, 2), st.integers(1, 2))
def test_im2col_gradcheck(g, N, C):
    rng = numpy.random.default_rng(0)
    x = randn(rng, (N, C) + g["size"])
    kw = dict(kernel_size=g["kernel"], dilation=g["dilation"], padding=g["padding"],
              stride=g["stride"])
    assert minicnn.gradcheck(lambda t: F.im2col(t, **kw), [x])


@pytest.mark.usefixtures("kernel_backend")
@given(geometry(allow_same=False), st.integers(1, 2), st.integers(1, 2))
def test_col2im_gradcheck(g, N, C):
    rng = numpy.random.default_rng(0)
    (KH, KW), (H, W) = g["kernel"], g["size"]
    kw = dict(kernel_size=g["kernel"], dilation=g["dilation"], padding=g["padding"],
              stride=g["stride"])
    L = F.im2col(minicnn.Tensor(numpy.zeros((1, 1, H, W))), **kw).shape[2]
    cols = randn(rng, (N, C * KH * KW, L))
    assert minicnn.gradcheck(lambda t: F.col2im(t, (H, W), **kw), [cols])


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("dtype", DTYPES)
@given(geometry(allow_same=False), st.integers(1, 2), st.integers(1, 3))
def test_im2col_col2im_match_torch_unfold_fold(dtype, g, N, C):
    rng = numpy.random.default_rng(0)
    H, W = g["size"]
    kw = dict(kernel_size=g["kernel"], dilation=g["dilation"], padding=g["padding"],
              stride=g["stride"])
    x = randn(rng, (N, C, H, W), dtype)
    cols, _ = assert_torch_parity(lambda t: F.im2col(t, **kw),
                                  lambda t: torch.nn.functional.unfold(t, **kw), [x])
    c = randn(rng, cols[0].shape, dtype)
    assert_torch_parity(lambda t: F.col2im(t, (H, W), **kw),
                        lambda t: torch.nn.functional.fold(t, (H, W), **kw), [c])


def test_im2col_docstring_example(kernel_backend):
    x = minicnn.Tensor(numpy.arange(9.0).reshape(1, 1, 3, 3))
    cols = F.im2col(x, kernel_size=2).numpy()[0]
    # column k is the 2x2 patch at output k, read row by row
    patches = [x.numpy()[0, 0, r:r + 2, c:c + 2].reshape(-1) for r in (0, 1) for c in (0, 1)]
    numpy.testing.assert_array_equal(cols, numpy.stack(patches, axis=1))
    ones = minicnn.Tensor(numpy.ones((1, 1, 3, 3)))
    counts = F.col2im(F.im2col(ones, 2), (3, 3), 2).numpy()[0, 0]
    numpy.testing.assert_array_equal(counts, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@given(geometry(allow_same=False))
def test_col2im_array_is_the_adjoint_of_im2col_array(g):
    rng = numpy.random.default_rng(0)
    # <im2col(x), c> == <x, col2im(c)> for every x and c
    (KH, KW), (SH, SW) = g["kernel"], numpy.broadcast_to(g["stride"], 2)
    PH, PW = numpy.broadcast_to(g["padding"], 2)
    DH, DW = g["dilation"]
    geo = (KH, KW, int(SH), int(SW), int(PH), int(PW), DH, DW)
    x = randn(rng, (2, 3) + g["size"])
    cols = conv_module.im2col_array(x, *geo)
    c = randn(rng, cols.shape)
    back = conv_module.col2im_array(c, x.shape, *geo)
    assert back.shape == x.shape and back.flags.c_contiguous
    numpy.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-12)


# ------------------------------------------------------------------- conv2d
@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.filterwarnings(SAME_WARNING)
@given(conv_cases())
def test_conv2d_gradcheck(case):
    rng = numpy.random.default_rng(0)
    x_shape, w_shape, with_bias, kw = case
    inputs = [randn(rng, x_shape), randn(rng, w_shape)]
    if with_bias:
        inputs.append(randn(rng, (w_shape[0],)))
    assert minicnn.gradcheck(lambda *t: F.conv2d(*t, **kw), inputs)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("dtype", DTYPES)
@given(conv_cases())
def test_conv2d_matches_torch(dtype, case):
    rng = numpy.random.default_rng(0)
    x_shape, w_shape, with_bias, kw = case
    inputs = [randn(rng, x_shape, dtype), randn(rng, w_shape, dtype)]
    if with_bias:
        inputs.append(randn(rng, (w_shape[0],), dtype))
    assert_torch_parity(lambda *t: F.conv2d(*t, **kw),
                        lambda *t: torch.nn.functional.conv2d(*t, **kw), inputs)


@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("kernel, dilation", [((2, 2), 1), ((2, 4), (1, 1)), ((3, 2), (2, 3)),
                                              ((4, 3), (1, 2))])
def test_conv2d_same_padding_even_kernels(kernel, dilation, rng, kernel_backend):
    # an odd total padding puts the extra row/column at the bottom/right (as torch)
    x, w = randn(rng, (2, 3, 5, 6)), randn(rng, (4, 3) + kernel)
    (y,), _ = assert_torch_parity(
        lambda a, b: F.conv2d(a, b, padding="same", dilation=dilation),
        lambda a, b: torch.nn.functional.conv2d(a, b, padding="same", dilation=dilation),
        [x, w])
    assert y.shape == (2, 4, 5, 6)


@pytest.mark.parametrize("stride", [1, 2, (2, 3)])
def test_conv2d_pointwise_skips_im2col(stride, rng, monkeypatch, reference_backend):
    # a 1x1 unpadded kernel reads its columns straight from x (strided or not)
    calls = []
    monkeypatch.setattr(conv_module, "im2col_array", lambda *a: calls.append(a))
    monkeypatch.setattr(conv_module, "col2im_array", lambda *a: calls.append(a))
    x, w, b = randn(rng, (2, 4, 5, 7)), randn(rng, (6, 4, 1, 1)), randn(rng, (6,))
    assert_torch_parity(lambda *t: F.conv2d(*t, stride=stride),
                        lambda *t: torch.nn.functional.conv2d(*t, stride=stride), [x, w, b])
    assert calls == []


def test_conv2d_alexnet_towers_and_depthwise(rng, kernel_backend):
    # groups=2: each half of the filters sees only its half of the channels
    x, w = randn(rng, (1, 4, 7, 7)), randn(rng, (6, 2, 3, 3))
    y = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), groups=2).numpy()
    top = F.conv2d(minicnn.Tensor(x[:, :2]), minicnn.Tensor(w[:3])).numpy()
    bottom = F.conv2d(minicnn.Tensor(x[:, 2:]), minicnn.Tensor(w[3:])).numpy()
    numpy.testing.assert_allclose(y, numpy.concatenate([top, bottom], axis=1), rtol=1e-12)
    # depthwise: channel c convolved with filter c alone
    wd = randn(rng, (4, 1, 3, 3))
    yd = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(wd), padding=1, groups=4).numpy()
    for c in range(4):
        one = F.conv2d(minicnn.Tensor(x[:, c:c + 1]), minicnn.Tensor(wd[c:c + 1]), padding=1)
        numpy.testing.assert_allclose(yd[:, c:c + 1], one.numpy(), rtol=1e-12)


def _conv_with_grads(x, w, b, **kw):
    xt, wt, bt = (minicnn.Tensor(a.copy(), requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, **kw)
    y.backward(numpy.ones(y.shape) * numpy.arange(y.size).reshape(y.shape) % 7)
    return y.numpy(), xt.grad, wt.grad, bt.grad


@pytest.mark.parametrize("kw", [dict(padding=1, stride=2), dict(groups=2, dilation=2),
                                dict()])
def test_conv2d_chunked_equals_unchunked(kw, rng, monkeypatch, reference_backend):
    groups = kw.get("groups", 1)
    x, w, b = randn(rng, (5, 4, 7, 6)), randn(rng, (6, 4 // groups, 3, 2)), randn(rng, (6,))
    whole = _conv_with_grads(x, w, b, **kw)
    calls = []
    real = conv_module.im2col_array
    monkeypatch.setattr(conv_module, "im2col_array", lambda *a: calls.append(a[0].shape[0])
                        or real(*a))
    previous = minicnn.get_workspace()
    # one image's columns: C*KH*KW rows of OH*OW float64 entries
    OH, OW = whole[0].shape[2:]
    per_image = 4 * 3 * 2 * OH * OW * 8
    # forward holds one column-sized buffer per image; backward three (the
    # columns, their per-group layout for gweight, and the column gradient)
    cases = [(1, [1] * 5, [1] * 5),                    # 1 byte: one image per chunk
             (3 * per_image, [3, 2], [1] * 5),         # room for 3 images' columns
             (6 * per_image + 1, [5], [2, 2, 1])]      # room for 6, not 9
    try:
        for nbytes, forward, backward in cases:
            minicnn.set_workspace(nbytes)
            calls.clear()
            chunked = _conv_with_grads(x, w, b, **kw)
            # backward recomputes the columns (for gweight) in its own chunks
            assert calls == forward + backward
            for a, c in zip(whole, chunked):
                numpy.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)
    finally:
        minicnn.set_workspace(previous)
    assert minicnn.get_workspace() == previous


def test_conv2d_saves_only_x_and_weight(rng, kernel_backend):
    x = minicnn.Tensor(randn(rng, (2, 3, 6, 6)), requires_grad=True)
    w = minicnn.Tensor(randn(rng, (4, 3, 3, 3)), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    saved = [v for v in vars(y.creator).values() if isinstance(v, numpy.ndarray)]
    assert len(saved) == 2
    assert saved[0] is x.data and saved[1] is w.data


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, True),
                                   (False, False, True)])
def test_conv2d_backward_computes_only_what_is_needed(needs, rng, kernel_backend):
    arrays = [randn(rng, (2, 3, 5, 5)), randn(rng, (4, 3, 3, 3)), randn(rng, (4,))]
    ts = [minicnn.Tensor(a, requires_grad=r) for a, r in zip(arrays, needs)]
    F.conv2d(*ts).sum().backward()
    for t, r in zip(ts, needs):
        assert (t.grad is not None) == r


def test_conv2d_goes_through_the_kernel_contract(rng, monkeypatch, reference_backend):
    seen = {}

    def spy(name, reference):
        def fn(*args):
            seen[name] = len(args)
            return reference(*args)
        return fn

    for name, ref in [("conv2d_forward", conv_module.conv2d_forward_reference),
                      ("conv2d_backward", conv_module.conv2d_backward_reference),
                      ("im2col", conv_module.im2col_array),
                      ("col2im", conv_module.col2im_array)]:
        monkeypatch.setitem(backend_module._kernels, ("numpy", name), spy(name, ref))
    assert_torch_parity(lambda a, b, c: F.conv2d(a, b, c, stride=2, padding=1),
                        lambda a, b, c: torch.nn.functional.conv2d(a, b, c, 2, 1),
                        [randn(rng, (2, 3, 5, 5)), randn(rng, (4, 3, 3, 3)),
                         randn(rng, (4,))])
    assert seen == {"conv2d_forward": 10, "conv2d_backward": 13, "im2col": 9, "col2im": 10}


# --------------------------------------------------------------- validation
def _t(shape, dtype=numpy.float64):
    return minicnn.Tensor(numpy.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("x_shape, w_shape, b_shape, kw, error, match", [
    ((3, 5, 5), (2, 3, 3, 3), None, {}, ValueError, r"conv2d: expected a 4-D input"),
    ((1, 3, 5, 5), (2, 3, 3), None, {}, ValueError, r"conv2d: expected a 4-D weight"),
    ((1, 3, 5, 5), (8, 1, 3, 3), None, {}, ValueError,
     r"input has 3 channels but weight expects 1 \(weight shape \(8, 1, 3, 3\)"),
    ((1, 4, 5, 5), (3, 2, 3, 3), None, dict(groups=2), ValueError,
     r"output channels \(3\) must be divisible by groups \(2\)"),
    ((1, 3, 5, 5), (4, 1, 3, 3), None, dict(groups=2), ValueError,
     r"input channels \(3\) must be divisible by groups \(2\)"),
    ((1, 4, 5, 5), (4, 4, 3, 3), None, dict(groups=2), ValueError,
     r"input has 4 channels but weight expects 8"),
    ((1, 3, 5, 5), (4, 3, 3, 3), (3,), {}, ValueError,
     r"expected bias of shape \(4,\) .* got \(3,\)"),
    ((1, 3, 5, 5), (4, 3, 3, 3), (4, 1), {}, ValueError, r"expected bias of shape \(4,\)"),
    ((1, 3, 4, 4), (2, 3, 7, 3), None, dict(padding=1), ValueError,
     r"kernel size \(7, 3\) \(after dilation\) is larger than the padded input size "
     r"\(6, 6\)"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(dilation=3), ValueError,
     r"kernel size \(7, 7\) \(after dilation\) is larger than the padded input"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(stride=0), ValueError,
     r"conv2d: stride must be >= 1, got 0"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(stride=(1, -1)), ValueError,
     r"stride must be >= 1"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(dilation=0), ValueError,
     r"conv2d: dilation must be >= 1"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding=-1), ValueError,
     r"conv2d: padding must be >= 0"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding=(0, -2)), ValueError,
     r"conv2d: padding must be >= 0"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding="full"), ValueError,
     r"padding must be an int, a pair, 'same' or 'valid', got 'full'"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding="same", stride=2), ValueError,
     r"padding='same' is not supported for strided convolutions"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(stride=1.5), TypeError,
     r"conv2d: stride must be an int or a pair of ints, got 1.5"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(padding=(1, 2, 3)), TypeError,
     r"padding must be an int or a pair of ints"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(groups=0), ValueError,
     r"conv2d: groups must be >= 1, got 0"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, dict(groups=1.0), TypeError,
     r"conv2d: groups must be an int, got 1.0"),
])
def test_conv2d_validation(x_shape, w_shape, b_shape, kw, error, match):
    b = None if b_shape is None else _t(b_shape)
    with pytest.raises(error, match=match):
        F.conv2d(_t(x_shape), _t(w_shape), b, **kw)


def test_conv2d_dtype_errors():
    with pytest.raises(TypeError, match=r"input dtype float64 does not match weight dtype "
                                        r"float32"):
        F.conv2d(_t((1, 3, 5, 5)), _t((2, 3, 3, 3), numpy.float32))
    with pytest.raises(TypeError, match=r"input dtype float32 does not match bias dtype "
                                        r"float64"):
        F.conv2d(_t((1, 3, 5, 5), numpy.float32), _t((2, 3, 3, 3), numpy.float32),
                 _t((2,)))
    with pytest.raises(TypeError, match=r"conv2d: expected a floating-point input, got "
                                        r"dtype int64"):
        F.conv2d(_t((1, 3, 5, 5), numpy.int64), _t((2, 3, 3, 3), numpy.int64))


def test_im2col_col2im_validation():
    with pytest.raises(ValueError, match=r"im2col: expected a 4-D input .* got shape "
                                         r"\(3, 5\)"):
        F.im2col(_t((3, 5)), 2)
    with pytest.raises(ValueError, match=r"im2col: kernel size \(7, 2\) \(after dilation\) "
                                         r"is larger"):
        F.im2col(_t((1, 1, 4, 4)), (3, 2), dilation=(3, 1))
    with pytest.raises(ValueError, match=r"im2col: kernel_size must be >= 1"):
        F.im2col(_t((1, 1, 4, 4)), 0)
    with pytest.raises(ValueError, match=r"im2col: padding must be >= 0"):
        F.im2col(_t((1, 1, 4, 4)), 2, padding=-1)
    with pytest.raises(ValueError, match=r"col2im: expected 3-D columns"):
        F.col2im(_t((1, 4, 4, 1)), (3, 3), 2)
    with pytest.raises(ValueError, match=r"col2im: dimension 1 of the columns \(5\) must be "
                                         r"divisible by KH\*KW = 4"):
        F.col2im(_t((1, 5, 4)), (3, 3), 2)
    with pytest.raises(ValueError, match=r"col2im: expected 4 columns \(OH\*OW = 2\*2 for "
                                         r"output_size \(3, 3\)\), got 5"):
        F.col2im(_t((1, 4, 5)), (3, 3), 2)
    with pytest.raises(TypeError, match=r"col2im: expected floating-point columns"):
        F.col2im(_t((1, 4, 4), numpy.int64), (3, 3), 2)



def test_conv2d_hands_kernels_contiguous_arrays(rng, monkeypatch, reference_backend):
    # transposed views reach the kernels as C-contiguous copies (the contract)
    def checked(name, reference):
        def fn(*args):
            for a in args:
                if isinstance(a, numpy.ndarray):
                    assert a.flags.c_contiguous, name
            return reference(*args)
        return fn

    for name, ref in [("conv2d_forward", conv_module.conv2d_forward_reference),
                      ("conv2d_backward", conv_module.conv2d_backward_reference)]:
        monkeypatch.setitem(backend_module._kernels, ("numpy", name), checked(name, ref))
    x = randn(rng, (2, 3, 6, 5)).transpose(0, 1, 3, 2)
    w = randn(rng, (4, 3, 2, 3)).transpose(0, 1, 3, 2)
    b = randn(rng, (8,))[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    results = []
    for arrays in [(x, w, b), [numpy.ascontiguousarray(a) for a in (x, w, b)]]:
        ts = [minicnn.Tensor(a, requires_grad=True) for a in arrays]
        y = F.conv2d(*ts, padding=1)
        y.backward(numpy.cos(numpy.arange(y.size)).reshape(y.shape))
        results.append([y.numpy()] + [t.grad for t in ts])
    for a, c in zip(*results):
        numpy.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-14)


def test_docstring_examples_run(kernel_backend):
    # the worked examples a student copies from help(F.im2col) print what they say
    import doctest
    result = doctest.testmod(conv_module)
    assert result.attempted >= 4 and result.failed == 0
