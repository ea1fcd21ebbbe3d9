"""minicnn.nn.Conv2d against torch.nn.Conv2d: forward, gradients, repr, init, errors."""
import math

import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minicnn
from minicnn import Tensor, nn


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 2))
    OC = groups * draw(st.integers(1, 2))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    SH, SW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    DH, DW = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    if padding == "same":
        SH = SW = 1
        padding_arg = "same"
    elif padding == "valid":
        padding_arg = "valid"
    elif padding == "int":
        padding_arg = draw(st.integers(0, 2))
    else:
        padding_arg = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    H = DH * (KH - 1) + 1 + draw(st.integers(0, 3))
    W = DW * (KW - 1) + 1 + draw(st.integers(0, 3))
    N = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    dtype = draw(st.sampled_from([numpy.float32, numpy.float64]))
    return dict(C=C, OC=OC, kernel=(KH, KW), stride=(SH, SW), dilation=(DH, DW),
                padding=padding_arg, groups=groups, bias=bias, shape=(N, C, H, W),
                dtype=dtype)


@pytest.mark.usefixtures("kernel_backend")
@given(conv_configs())
def test_conv2d_matches_torch(layer_parity, cfg):
    kwargs = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                  groups=cfg["groups"], bias=cfg["bias"])
    ours = nn.Conv2d(cfg["C"], cfg["OC"], cfg["kernel"], **kwargs)
    theirs = torch.nn.Conv2d(cfg["C"], cfg["OC"], cfg["kernel"], **kwargs)
    x = numpy.random.default_rng(1).standard_normal(cfg["shape"]).astype(cfg["dtype"])
    layer_parity(ours, theirs, x)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("args, kwargs", [
    ((3, 64, 3), dict(padding=1)),
    ((3, 64, 11), dict(stride=4, padding=2)),
    ((48, 128, 5), dict(padding=2, groups=2)),
    ((8, 8, (3, 5)), dict(stride=(2, 1), padding=(1, 2), dilation=2, bias=False)),
    ((8, 16, 3), dict(padding="same")),
    ((8, 16, 1), dict(padding="valid", groups=8)),
])
def test_conv2d_repr_and_state_dict_match_torch(args, kwargs):
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_conv2d_default_init_is_pytorchs():
    minicnn.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    bound = 1 / math.sqrt(fan_in)    # kaiming_uniform_(a=sqrt(5)) works out to this
    w, b = conv.weight.data, conv.bias.data
    assert w.dtype == numpy.float32 and b.dtype == numpy.float32
    assert numpy.abs(w).max() <= bound and numpy.abs(b).max() <= bound
    # U(-bound, bound) has std bound / sqrt(3); 4608 draws pin it to about 1%
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert numpy.abs(w).max() > 0.95 * bound
    minicnn.manual_seed(0)
    again = nn.Conv2d(16, 32, 3)
    numpy.testing.assert_array_equal(again.weight.data, w)
    numpy.testing.assert_array_equal(again.bias.data, b)


def test_conv2d_dtype_and_device_arguments():
    conv = nn.Conv2d(2, 4, 3, dtype=numpy.float64, device="cpu")
    assert conv.weight.dtype == numpy.float64 and conv.bias.dtype == numpy.float64
    y = conv(Tensor(numpy.zeros((1, 2, 5, 5))))
    assert y.shape == (1, 4, 3, 3) and y.dtype == numpy.float64


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=3, out_channels=6, kernel_size=3, groups=2),
     r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2),
     r"Conv2d: out_channels \(3\) must be divisible by groups \(2\)"),
    (dict(in_channels=4, out_channels=4, kernel_size=0), "Conv2d: kernel_size must be >= 1"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, stride=0),
     "Conv2d: stride must be >= 1"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding=-1),
     "Conv2d: padding must be >= 0"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding="full"),
     "Conv2d: padding must be an int, a pair, 'same' or 'valid'"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, padding="same"),
     "padding='same' is not supported for strided convolutions"),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding_mode="reflect"),
     "only padding_mode='zeros'"),
])
def test_conv2d_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(**kwargs)


def test_conv2d_rejects_non_int_arguments():
    with pytest.raises(TypeError, match="Conv2d: in_channels must be an int"):
        nn.Conv2d(3.0, 8, 3)
    with pytest.raises(TypeError, match=r"Conv2d: kernel_size must be an int or a pair of "
                                        r"ints, got \(3, 3, 3\)"):
        nn.Conv2d(4, 4, (3, 3, 3))


def test_conv2d_validates_input_before_the_maths():
    conv = nn.Conv2d(3, 64, 3, padding=1)
    with pytest.raises(ValueError) as e:
        conv(Tensor(numpy.zeros((8, 1, 28, 28), dtype=numpy.float32)))
    assert str(e.value) == ("Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), "
                            "padding=(1, 1)): expected input with 3 channels, got shape "
                            "(8, 1, 28, 28)")
    with pytest.raises(ValueError, match=r"expected 4-D \(N, C, H, W\) input, got shape "
                                         r"\(3, 28, 28\)"):
        conv(Tensor(numpy.zeros((3, 28, 28), dtype=numpy.float32)))
    with pytest.raises(TypeError, match="input has dtype float64 but the layer's "
                                        "parameters are float32"):
        conv(Tensor(numpy.zeros((1, 3, 4, 4))))
