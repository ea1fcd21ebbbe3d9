"""Conv2d: a thin Module over ``F.conv2d`` that owns the weight and bias;
ConvReLU2d: the same layer with the ReLU after it fused in (``F.conv2d_relu``).

A call goes nn.Conv2d.forward -> F.conv2d -> Conv2dFunction -> the kernel table
(see Conv2dFunction's docstring in minicnn/functional/conv.py for the rest).
"""
from __future__ import annotations

import math

import numpy

import minicnn.functional as F
from minicnn.functional.conv import check_conv2d_args
from minicnn.nn import _utils as U
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter

__all__ = ["Conv2d", "ConvReLU2d"]


class Conv2d(Module):
    """2-D convolution, PyTorch's ``nn.Conv2d``.

    Args:
        in_channels (C), out_channels (OC): channel counts, each divisible by groups.
        kernel_size: int or pair (KH, KW).
        stride, dilation: int or pair, >= 1.
        padding: int or pair >= 0, 'valid' or 'same' (stride 1 only).
        groups: channel groups (2: AlexNet's towers; C: depthwise).
        bias: learn a per-channel bias.
        padding_mode: only 'zeros'.
        device: 'cpu' (default) or 'cuda'; dtype: float32 (default) or float64.

    Parameters:
        weight: (OC, C/groups, KH, KW), bias: (OC,), both initialised as PyTorch:
        weight ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C/groups * KH * KW.

    Shape:
        input (N, C, H, W) -> output (N, OC, OH, OW),
        OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 (OW likewise).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__()
        name = "Conv2d"
        self.in_channels = U.check_int(name, "in_channels", in_channels, 1)
        self.out_channels = U.check_int(name, "out_channels", out_channels, 1)
        # the checks F.conv2d runs too, with the same messages
        (self.kernel_size, self.stride, self.padding, self.dilation,
         self.groups) = check_conv2d_args(name, kernel_size, stride, padding, dilation, groups,
                                          ("in_channels", self.in_channels),
                                          ("out_channels", self.out_channels))
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is implemented, got "
                             f"{padding_mode!r}")
        self.padding_mode = padding_mode
        U.check_bool(name, "bias", bias)
        dtype = U.resolve_dtype(name, dtype)
        KH, KW = self.kernel_size
        self.weight = Parameter(numpy.empty(
            (self.out_channels, self.in_channels // self.groups, KH, KW), dtype=dtype))
        if bias:
            self.bias = Parameter(numpy.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """PyTorch's default init (see the class docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        x = U.check_input(repr(self), x, {4: "(N, C, H, W)"}, self.in_channels,
                          dtype=self.weight.dtype)
        return self._convolve(x, self.weight, self.bias, self.stride, self.padding,
                              self.dilation, self.groups)

    _convolve = staticmethod(F.conv2d)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvReLU2d(Conv2d):
    """Conv2d followed by ReLU, as one layer: y = max(conv2d(x), 0), one node
    (``F.conv2d_relu``; the numba backend applies the ReLU in the im2col path's
    output write, or in one in-place pass after the direct and Winograd paths).
    PyTorch's intrinsic ``ConvReLU2d`` in spirit; the arguments,
    parameters (and state_dict keys) are Conv2d's.

    ``minicnn.optimize_for_inference`` puts one in place of each Conv2d whose
    output goes straight into an ``nn.ReLU`` (``ConvReLU2d.from_conv``).
    """

    _convolve = staticmethod(F.conv2d_relu)

    @classmethod
    def from_conv(cls, conv: Conv2d) -> "ConvReLU2d":
        """A ConvReLU2d with ``conv``'s settings that shares its weight and bias."""
        if type(conv) is not Conv2d:
            raise TypeError(f"ConvReLU2d.from_conv: expected an nn.Conv2d, got "
                            f"{type(conv).__name__}; pass the convolution the ReLU follows")
        fused = cls.__new__(cls)
        fused.__dict__.update(vars(conv))
        return fused
