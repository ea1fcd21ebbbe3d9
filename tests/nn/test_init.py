"""minicnn.nn.init: PyTorch's formulas, in place, dtype kept, seeded."""
import math

import numpy
import pytest
import torch

import minicnn
from minicnn import Tensor, nn
from minicnn.nn import init


@pytest.mark.parametrize("args", [("linear",), ("conv2d",), ("sigmoid",), ("tanh",),
                                  ("relu",), ("leaky_relu",), ("leaky_relu", 0.2),
                                  ("leaky_relu", 0), ("selu",)])
def test_calculate_gain_matches_torch(args):
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args),
                                                       rel=1e-12)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope True is not a valid number"):
        init.calculate_gain("leaky_relu", True)


def _param(shape, dtype=numpy.float32):
    return nn.Parameter(numpy.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("fn, kwargs, fan, gain_args, dist", [
    (init.kaiming_normal_, {}, "in", ("leaky_relu", 0), "normal"),
    (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), "out", ("relu",),
     "normal"),
    (init.kaiming_uniform_, dict(a=math.sqrt(5)), "in", ("leaky_relu", math.sqrt(5)),
     "uniform"),
    (init.kaiming_uniform_, dict(mode="fan_out"), "out", ("leaky_relu", 0), "uniform"),
    (init.xavier_uniform_, dict(gain=2.0), "avg", None, "uniform"),
    (init.xavier_normal_, {}, "avg", None, "normal"),
])
def test_fan_based_inits_have_pytorchs_std(fn, kwargs, fan, gain_args, dist):
    minicnn.manual_seed(0)
    w = _param((64, 32, 5, 5))          # fan_in 800, fan_out 1600, 51200 draws
    fan_in, fan_out = 32 * 25, 64 * 25
    if fan == "avg":
        std = kwargs.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        std = torch.nn.init.calculate_gain(*gain_args) / math.sqrt(
            fan_in if fan == "in" else fan_out)
    out = fn(w, **kwargs)
    assert out is w and w.dtype == numpy.float32
    assert abs(w.data.mean()) < 0.02 * std
    assert w.data.std() == pytest.approx(std, rel=0.02)
    if dist == "uniform":
        bound = math.sqrt(3) * std
        assert numpy.abs(w.data).max() <= bound * (1 + 1e-6)
        assert numpy.abs(w.data).max() > 0.99 * bound
    # torch's version of the same init on the same shape has the same spread
    t = fn.__name__
    ref = getattr(torch.nn.init, t)(torch.empty(64, 32, 5, 5), **kwargs)
    assert float(ref.std()) == pytest.approx(float(w.data.std()), rel=0.03)


def test_inits_are_reproducible_with_manual_seed_and_dtype_independent():
    minicnn.manual_seed(42)
    a = init.kaiming_normal_(_param((8, 4, 3, 3)))
    minicnn.manual_seed(42)
    b = init.kaiming_normal_(_param((8, 4, 3, 3), numpy.float64))
    assert b.dtype == numpy.float64
    numpy.testing.assert_array_equal(a.data, b.data.astype(numpy.float32))
    c = init.kaiming_normal_(_param((8, 4, 3, 3)))
    assert not numpy.array_equal(a.data, c.data)


def test_simple_fills():
    w = _param((3, 4), numpy.float64)
    data = w.data
    assert init.constant_(w, 2.5) is w and (w.data == 2.5).all()
    init.ones_(w)
    assert (w.data == 1).all()
    init.zeros_(w)
    assert not w.data.any()
    assert w.data is data                    # filled in place
    minicnn.manual_seed(1)
    init.uniform_(w, -2, -1)
    assert ((w.data >= -2) & (w.data < -1)).all()
    init.normal_(w, mean=10.0, std=0.0)
    assert (w.data == 10).all()


def test_inits_work_on_tensors_and_arrays():
    t = Tensor(numpy.zeros((4, 4), dtype=numpy.float32))
    init.xavier_uniform_(t)
    assert t.data.any()
    a = numpy.zeros((4, 4))
    assert init.ones_(a) is a and (a == 1).all()


def test_init_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_normal_(_param((5,)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(_param((5, 5)), mode="fan_avg")
    with pytest.raises(TypeError, match="init.normal_: expected a floating-point tensor"):
        init.normal_(Tensor(numpy.zeros(3, dtype=numpy.int64)))
    with pytest.raises(TypeError, match="init.zeros_: expected a Tensor or an array"):
        init.zeros_([0.0, 1.0])
