"""Pooling layers: thin Modules over ``F.max_pool2d``, ``F.avg_pool2d`` and
``F.adaptive_avg_pool2d``. They have no parameters.

    OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1, rounded down (up with ceil_mode)
"""
from __future__ import annotations

import minicnn.functional as F
from minicnn.nn import _utils as U
from minicnn.nn.module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]

_IMAGE = {4: "(N, C, H, W)"}


def _int_or_pair(layer, name, value, minimum):
    """Validate an int-or-pair argument but keep the user's form (it shows in the repr)."""
    U.pair(layer, name, value, minimum)
    return tuple(value) if isinstance(value, list) else value


def _check_padding(layer, kernel_size, padding):
    KH, KW = U.pair(layer, "kernel_size", kernel_size, 1)
    PH, PW = U.pair(layer, "padding", padding, 0)
    if PH > KH // 2 or PW > KW // 2:
        raise ValueError(f"{layer}: padding {padding} should be at most half of "
                         f"kernel_size {kernel_size}")


class MaxPool2d(Module):
    """Max over KH x KW windows (PyTorch's ``nn.MaxPool2d``); AlexNet uses the
    overlapping ``MaxPool2d(3, stride=2)``.

    Shape: (N, C, H, W) -> (N, C, OH, OW). ``stride`` defaults to ``kernel_size``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        name = "MaxPool2d"
        self.kernel_size = _int_or_pair(name, "kernel_size", kernel_size, 1)
        self.stride = (self.kernel_size if stride is None
                       else _int_or_pair(name, "stride", stride, 1))
        self.padding = _int_or_pair(name, "padding", padding, 0)
        self.dilation = _int_or_pair(name, "dilation", dilation, 1)
        self.ceil_mode = U.check_bool(name, "ceil_mode", ceil_mode)
        _check_padding(name, self.kernel_size, self.padding)

    def forward(self, x):
        x = U.check_input(repr(self), x, _IMAGE)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over KH x KW windows (PyTorch's ``nn.AvgPool2d``).

    ``count_include_pad``: divide by the full window (padding counted as zeros)
    or by the real pixels only; ``divisor_override``: a fixed divisor.
    Shape: (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        name = "AvgPool2d"
        self.kernel_size = _int_or_pair(name, "kernel_size", kernel_size, 1)
        self.stride = (self.kernel_size if stride is None
                       else _int_or_pair(name, "stride", stride, 1))
        self.padding = _int_or_pair(name, "padding", padding, 0)
        self.ceil_mode = U.check_bool(name, "ceil_mode", ceil_mode)
        self.count_include_pad = U.check_bool(name, "count_include_pad", count_include_pad)
        if divisor_override is not None:
            U.check_int(name, "divisor_override", divisor_override, 1)
        self.divisor_override = divisor_override
        _check_padding(name, self.kernel_size, self.padding)

    def forward(self, x):
        x = U.check_input(repr(self), x, _IMAGE)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size.

    ``output_size``: int or (OH, OW) (None in the pair keeps that input size);
    ``AdaptiveAvgPool2d(1)`` is global average pooling. Window i along H covers
    rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1.
    Shape: (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(self, output_size):
        super().__init__()
        name = "AdaptiveAvgPool2d"
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 2:
                raise ValueError(f"{name}: output_size must be an int or a pair, got "
                                 f"{output_size!r}")
            for v in output_size:
                if v is not None:
                    U.check_int(name, "output_size", v, 1)
            output_size = tuple(output_size)
        else:
            U.check_int(name, "output_size", output_size, 1)
        self.output_size = output_size

    def forward(self, x):
        x = U.check_input(repr(self), x, _IMAGE)
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
