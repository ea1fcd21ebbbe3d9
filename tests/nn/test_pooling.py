"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d against torch.nn."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn import Tensor, nn

DTYPES = st.sampled_from([numpy.float32, numpy.float64])


@st.composite
def pool_configs(draw, dilation=True):
    K = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    S = draw(st.one_of(st.none(), st.integers(1, 3)))
    P = (draw(st.integers(0, K[0] // 2)), draw(st.integers(0, K[1] // 2)))
    D = draw(st.integers(1, 2)) if dilation else 1
    H = D * (K[0] - 1) + 1 + draw(st.integers(0, 3))
    W = D * (K[1] - 1) + 1 + draw(st.integers(0, 3))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W)
    return K, S, P, D, draw(st.booleans()), shape, draw(DTYPES)


def _input(shape, dtype):
    return numpy.random.default_rng(4).standard_normal(shape).astype(dtype)


@pytest.mark.usefixtures("kernel_backend")
@given(pool_configs())
def test_max_pool2d_matches_torch(layer_parity, cfg):
    K, S, P, D, ceil_mode, shape, dtype = cfg
    ours = nn.MaxPool2d(K, S, P, D, ceil_mode=ceil_mode)
    theirs = torch.nn.MaxPool2d(K, S, P, D, ceil_mode=ceil_mode)
    layer_parity(ours, theirs, _input(shape, dtype))
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
@given(pool_configs(dilation=False), st.booleans(),
       st.sampled_from([None, 1, 3]))
def test_avg_pool2d_matches_torch(layer_parity, cfg, count_include_pad, divisor):
    K, S, P, _, ceil_mode, shape, dtype = cfg
    kwargs = dict(ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                  divisor_override=divisor)
    ours, theirs = nn.AvgPool2d(K, S, P, **kwargs), torch.nn.AvgPool2d(K, S, P, **kwargs)
    layer_parity(ours, theirs, _input(shape, dtype))
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
@given(H=st.integers(1, 7), W=st.integers(1, 7), data=st.data(), dtype=DTYPES)
def test_adaptive_avg_pool2d_matches_torch(layer_parity, H, W, data, dtype):
    out = data.draw(st.one_of(st.integers(1, 4),
                              st.tuples(st.integers(1, 4), st.integers(1, 4)),
                              st.tuples(st.none(), st.integers(1, 4))))
    ours, theirs = nn.AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out)
    layer_parity(ours, theirs, _input((2, 3, H, W), dtype))
    assert repr(ours) == repr(theirs)


def test_alexnet_overlapping_pool_repr():
    assert repr(nn.MaxPool2d(3, stride=2)) == repr(torch.nn.MaxPool2d(3, stride=2))
    assert repr(nn.AvgPool2d((2, 3), (1, 2), (1, 0))) == repr(
        torch.nn.AvgPool2d((2, 3), (1, 2), (1, 0)))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.MaxPool2d(0), "MaxPool2d: kernel_size must be >= 1"),
    (lambda: nn.MaxPool2d(2, stride=0), "MaxPool2d: stride must be >= 1"),
    (lambda: nn.MaxPool2d(3, padding=2), "MaxPool2d: padding 2 should be at most half"),
    (lambda: nn.AvgPool2d(2, padding=-1), "AvgPool2d: padding must be >= 0"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), "AvgPool2d: divisor_override must be"),
    (lambda: nn.AdaptiveAvgPool2d(0), "AdaptiveAvgPool2d: output_size must be >= 1"),
    (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), "AdaptiveAvgPool2d: output_size must be"),
])
def test_pooling_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)])
def test_pooling_requires_4d_input(layer):
    with pytest.raises(ValueError, match=r"expected 4-D \(N, C, H, W\) input, got shape "
                                         r"\(3, 8, 8\)"):
        layer(Tensor(numpy.zeros((3, 8, 8), dtype=numpy.float32)))
