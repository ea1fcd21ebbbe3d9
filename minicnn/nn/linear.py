"""Linear, Identity and Flatten."""
from __future__ import annotations

import math

import numpy

import minicnn.functional as F
from minicnn.nn import _utils as U
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    """Fully connected layer, ``y = x W^T + b`` (PyTorch's ``nn.Linear``).

    Parameters:
        weight: (out_features, in_features), bias: (out_features,); initialised
        as PyTorch: W ~ kaiming_uniform_(a=sqrt(5)), b ~ U(-1/sqrt(in), 1/sqrt(in)).

    Shape:
        input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        name = "Linear"
        self.in_features = U.check_int(name, "in_features", in_features, 0)
        self.out_features = U.check_int(name, "out_features", out_features, 0)
        U.check_bool(name, "bias", bias)
        dtype = U.resolve_dtype(name, dtype)
        self.weight = Parameter(numpy.empty((self.out_features, self.in_features),
                                            dtype=dtype))
        if bias:
            self.bias = Parameter(numpy.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        x = U.as_input(repr(self), x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            hint = ""
            if x.ndim > 2 and math.prod(x.shape[1:]) == self.in_features:
                hint = (f"; to flatten each sample to {self.in_features} features put "
                        "nn.Flatten() before this layer")
            raise ValueError(f"{self!r}: expected input of shape (*, {self.in_features}), "
                             f"got shape {x.shape}{hint}")
        U.check_dtype(repr(self), x, self.weight.dtype)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored, as PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = U.check_int("Flatten", "start_dim", start_dim)
        self.end_dim = U.check_int("Flatten", "end_dim", end_dim)

    def forward(self, x):
        x = U.as_input(repr(self), x)
        ndim = max(x.ndim, 1)
        for name, d in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -ndim <= d < ndim:
                raise ValueError(f"{self!r}: {name}={d} is out of range for an input of "
                                 f"shape {x.shape}")
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
