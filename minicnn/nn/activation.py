"""Activation layers: thin Modules over the functions in ``minicnn.functional``.

``ReLU(inplace=True)`` overwrites its input and returns it, as PyTorch's does
(``F.relu(x, inplace=True)``: after a BatchNorm or an add, the ReLU is absorbed
into that node). ``LeakyReLU``'s ``inplace`` is accepted for PyTorch
compatibility (and shown in the repr); its output is always a new tensor.
"""
from __future__ import annotations

import minicnn.functional as F
from minicnn.nn import _utils as U
from minicnn.nn.module import Module

__all__ = ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]


def _float_input(module, x):
    x = U.as_input(repr(module), x)
    return U.check_dtype(repr(module), x)


class ReLU(Module):
    """max(0, x), elementwise. Shape: any -> the same.

    ``inplace=True``: x is overwritten and returned (``F.relu(x, inplace=True)``).
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = U.check_bool("ReLU", "inplace", inplace)

    def forward(self, x):
        return F.relu(_float_input(self, x), inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x, elementwise. Shape: any -> the same."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = U.check_float("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = U.check_bool("LeakyReLU", "inplace", inplace)

    def forward(self, x):
        return F.leaky_relu(_float_input(self, x), self.negative_slope)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace}"


class Tanh(Module):
    """tanh(x), elementwise. Shape: any -> the same."""

    def forward(self, x):
        return F.tanh(_float_input(self, x))


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise. Shape: any -> the same."""

    def forward(self, x):
        return F.sigmoid(_float_input(self, x))


def _check_dim(layer, dim):
    if dim is not None:
        U.check_int(layer, "dim", dim)
    return dim


class Softmax(Module):
    """e^x / sum e^x along ``dim`` (each slice sums to 1). Shape: any -> the same.

    ``dim=None`` follows PyTorch's deprecated implicit choice; pass it explicitly.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim("Softmax", dim)

    def forward(self, x):
        return F.softmax(_float_input(self, x), self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably. Shape: any -> the same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = _check_dim("LogSoftmax", dim)

    def forward(self, x):
        return F.log_softmax(_float_input(self, x), self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
