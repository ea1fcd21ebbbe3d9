"""Tests of minicnn/functional/conv_naive.py: the seven-loop convolution.

It is the definition the other convolutions are checked against, so it is
checked itself three ways (finite differences in float64, PyTorch, and
agreement with F.conv2d on every kernel backend), and then the Numba conv
kernels, on both of their paths, are checked against it on small shapes.
"""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from minicnn.functional.conv_naive import conv2d_naive_backward, conv2d_naive_forward
from minicnn.testing import assert_kernel_close, assert_torch_parity, conv_geometries

# loops in Python: a few pixels, a few channels
SMALL = conv_geometries(max_size=6, max_kernel=3, max_stride=2, max_groups=2, max_batch=2)


def arrays(g, seed, dtype=numpy.float64):
    N, C, H, W, OC, KH, KW, *_, groups = g
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((OC, C // groups, KH, KW)).astype(dtype)
    b = rng.standard_normal(OC).astype(dtype)
    return x, w, b


def keywords(g):
    *_, KH, KW, SH, SW, PH, PW, DH, DW, groups = g
    return dict(stride=(SH, SW), padding=(PH, PW), dilation=(DH, DW), groups=groups)


@pytest.mark.usefixtures("kernel_backend")
@given(g=SMALL, bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_agrees_with_conv2d_forward_and_every_gradient(g, bias, seed):
    # F.conv2d runs on the backend's kernels (references, numba, ...)
    x, w, b = arrays(g, seed)
    results = []
    for conv in (F.conv2d_naive, F.conv2d):
        tx, tw = minicnn.Tensor(x, requires_grad=True), minicnn.Tensor(w, requires_grad=True)
        tb = minicnn.Tensor(b, requires_grad=True) if bias else None
        y = conv(tx, tw, tb, **keywords(g))
        gy = numpy.random.default_rng(seed + 1).standard_normal(y.shape)
        y.backward(gy)
        results.append((y.numpy(), tx.grad, tw.grad, tb.grad if bias else None))
    for naive, fast in zip(*results):
        if naive is None:
            assert fast is None
        else:
            numpy.testing.assert_allclose(naive, fast, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("g", [
    (1, 2, 4, 5, 2, 3, 2, 1, 1, 1, 0, 1, 1, 1),   # 3x2 kernel, padding on rows
    (2, 2, 5, 5, 2, 2, 2, 2, 1, 0, 1, 2, 1, 2),   # stride, dilation and two groups
    (1, 1, 3, 3, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1),   # 1x1
])
def test_gradcheck_float64(g):
    x, w, b = arrays(g, seed=3)
    assert minicnn.gradcheck(lambda a, c, d: F.conv2d_naive(a, c, d, **keywords(g)),
                             [x, w, b])


@given(g=SMALL, seed=st.integers(0, 2**32 - 1))
def test_matches_torch(g, seed):
    x, w, b = arrays(g, seed)
    kw = keywords(g)
    assert_torch_parity(lambda a, c, d: F.conv2d_naive(a, c, d, **kw),
                        lambda a, c, d: torch.nn.functional.conv2d(a, c, d, **kw),
                        [x, w, b])


def test_docstring_example_sums_each_patch():
    x = minicnn.Tensor(numpy.arange(9.0).reshape(1, 1, 3, 3))
    y = F.conv2d_naive(x, minicnn.Tensor(numpy.ones((1, 1, 2, 2))))
    numpy.testing.assert_array_equal(y.numpy()[0, 0], [[8.0, 12.0], [20.0, 24.0]])


@pytest.mark.parametrize("args, kwargs, message", [
    ((numpy.ones((1, 3, 4)), numpy.ones((1, 3, 2, 2))), {}, "expected a 4-D input"),
    ((numpy.ones((1, 3, 4, 4)), numpy.ones((1, 2, 2, 2))), {}, "input has 3 channels"),
    ((numpy.ones((1, 2, 4, 4)), numpy.ones((3, 1, 2, 2))), {"groups": 2},
     "output channels (3) must be divisible by groups (2)"),
    ((numpy.ones((1, 1, 2, 2)), numpy.ones((1, 1, 3, 3))), {}, "larger than the padded"),
    ((numpy.ones((1, 1, 4, 4)), numpy.ones((1, 1, 2, 2))), {"stride": 0}, "stride must be"),
    ((numpy.ones((1, 1, 4, 4)), numpy.ones((1, 1, 2, 2)), numpy.ones(2)), {},
     "expected bias of shape (1,)"),
])
def test_bad_arguments_are_one_line_errors(args, kwargs, message):
    with pytest.raises((ValueError, TypeError)) as info:
        F.conv2d_naive(*args, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------- the Numba kernels against the definition
@pytest.mark.parametrize("algorithm", ["im2col", "direct", "auto"])
@given(g=SMALL, dtype=st.sampled_from([numpy.float32, numpy.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_numba_conv_kernels_match_the_definition(algorithm, g, dtype, seed):
    pytest.importorskip("numba")
    from minicnn.kernels.cpu import conv  # needs numba
    x, w, b = arrays(g, seed, dtype)
    *_, SH, SW, PH, PW, DH, DW, groups = g
    geometry = (SH, SW, PH, PW, DH, DW, groups)
    with conv.conv_algorithm(algorithm):
        y = conv.conv2d_forward(x, w, b, *geometry)
        gy = numpy.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
        got = conv.conv2d_backward(gy, x, w, *geometry, True, True, True)
    # the definition in float64, rounded to the kernels' dtype
    x64, w64, b64, gy64 = (a.astype(numpy.float64) for a in (x, w, b, gy))
    want_y = conv2d_naive_forward(x64, w64, b64, *geometry).astype(dtype)
    assert_kernel_close(y, want_y, dtype)
    for a, e in zip(got, conv2d_naive_backward(gy64, x64, w64, *geometry)):
        assert_kernel_close(a, e.astype(dtype), dtype)
