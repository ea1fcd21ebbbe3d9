"""Weight initialisation, with PyTorch's formulas (``torch.nn.init``).

Every function fills a Tensor (or Parameter, or raw array) IN PLACE, keeps its
dtype and device, and returns it. Random numbers come from minicnn's one
generator (``minicnn.rng.get_rng()``), drawn in float64 on the host and then
cast, so ``minicnn.manual_seed(n)`` makes initialisation reproducible and the
same seed gives the same weights in float32 and float64, on CPU and GPU.

Fans of a weight ``W: (OC, C/groups, KH, KW)`` (or ``(out, in)`` for Linear):

    fan_in  = C/groups * KH * KW          fan_out = OC * KH * KW

He (Kaiming) initialisation keeps the variance of activations (``fan_in``) or
of gradients (``fan_out``) constant through ReLU layers:

    std = gain / sqrt(fan)        normal:  W ~ N(0, std^2)
                                  uniform: W ~ U(-sqrt(3) std, sqrt(3) std)

Glorot (Xavier) initialisation balances both directions:

    std = gain * sqrt(2 / (fan_in + fan_out))
"""
from __future__ import annotations

import math
import numbers

import numpy

from minicnn.autograd import Tensor
from minicnn.backend import cupy_module, is_cupy_array
from minicnn.rng import get_rng

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]


def _array_of(tensor, fn_name: str):
    """The array a Tensor/Parameter (or a raw array) holds."""
    if isinstance(tensor, Tensor):
        array = tensor.data
    elif isinstance(tensor, numpy.ndarray) or is_cupy_array(tensor):
        array = tensor
    else:
        raise TypeError(f"init.{fn_name}: expected a Tensor or an array, got "
                        f"{type(tensor).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"init.{fn_name}: expected a floating-point tensor, got dtype "
                        f"{array.dtype}")
    return array


def _fill(tensor, values, fn_name: str):
    """Copy host float64 ``values`` into the tensor's array in place; return the tensor."""
    array = _array_of(tensor, fn_name)
    if is_cupy_array(array):
        values = cupy_module().asarray(values)
    array[...] = values.astype(array.dtype, copy=False)
    if isinstance(tensor, Tensor):
        tensor._bump_version()  # a graph that saved this tensor is now stale
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    linear, conv*, sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + negative_slope^2)) (slope ``param``, default 0.01);
    selu: 3/4.
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            negative_slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; choose "
                     "linear, conv2d, sigmoid, tanh, relu, leaky_relu or selu")


def _calculate_fan_in_and_fan_out(tensor, fn_name: str = "fan") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: ``(out, in, *kernel)``."""
    shape = _array_of(tensor, fn_name).shape
    if len(shape) < 2:
        raise ValueError(f"init.{fn_name}: fan in and fan out can not be computed for a "
                         f"tensor with fewer than 2 dimensions (shape {tuple(shape)})")
    receptive_field = 1
    for s in shape[2:]:
        receptive_field *= s
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str, fn_name: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{fn_name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, fn_name)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    if a > b:
        raise ValueError(f"init.uniform_: expected a <= b, got a={a}, b={b}")
    shape = _array_of(tensor, "uniform_").shape
    return _fill(tensor, get_rng().uniform(a, b, size=shape), "uniform_")


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    shape = _array_of(tensor, "normal_").shape
    return _fill(tensor, get_rng().normal(mean, std, size=shape), "normal_")


def _constant(tensor, val, fn_name: str):
    shape = _array_of(tensor, fn_name).shape
    return _fill(tensor, numpy.full(shape, val, dtype=numpy.float64), fn_name)


def constant_(tensor, val: float):
    """Fill with the constant ``val``."""
    return _constant(tensor, val, "constant_")


def ones_(tensor):
    """Fill with 1."""
    return _constant(tensor, 1.0, "ones_")


def zeros_(tensor):
    """Fill with 0."""
    return _constant(tensor, 0.0, "zeros_")


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan).

    ``a`` is the negative slope of the leaky ReLU that follows (0 for ReLU).
    PyTorch's default Conv2d/Linear init is ``kaiming_uniform_(W, a=sqrt(5))``,
    which works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    fan = _calculate_correct_fan(tensor, mode, "kaiming_uniform_")
    if fan == 0:
        return tensor  # an empty tensor: nothing to fill (PyTorch warns and skips)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan) (ResNet's conv init uses
    ``mode='fan_out', nonlinearity='relu'``)."""
    fan = _calculate_correct_fan(tensor, mode, "kaiming_normal_")
    if fan == 0:
        return tensor
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0.0, std)
