"""Argument and input checks shared by the layers (private to minicnn.nn)."""
from __future__ import annotations

import numbers

import numpy

from minicnn.autograd import Tensor

# One home for "an int" and "an int or a pair", shared with minicnn.functional
# (conv and pooling parse the same arguments): the messages read the same.
from minicnn.functional._geometry import as_int as check_int
from minicnn.functional._geometry import pair

__all__ = ["pair", "check_int", "check_float", "check_bool", "as_input", "check_input",
           "check_dtype", "resolve_dtype"]


def check_float(layer: str, name: str, value, low=None, high=None) -> float:
    """``value`` as a float in [low, high], or an error naming the layer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{layer}: {name} must be in [{low}, {high}], got {value}")
    return value


def check_bool(layer: str, name: str, value) -> bool:
    if not isinstance(value, (bool, numpy.bool_)):
        raise TypeError(f"{layer}: {name} must be True or False, got {value!r}")
    return bool(value)


def resolve_dtype(layer: str, dtype):
    """The parameter dtype of a new layer: float32 unless a float dtype is given."""
    if dtype is None:
        return numpy.dtype(numpy.float32)
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{layer}: parameters must have a floating-point dtype, got {dtype}")
    return dtype


def as_input(layer: str, x) -> Tensor:
    """Layers accept Tensors and, for convenience, raw arrays (wrapped, dtype kept)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numpy.ndarray) or type(x).__module__.split(".")[0] == "cupy":
        return Tensor(x)
    raise TypeError(f"{layer}: expected a minicnn Tensor or an array, got "
                    f"{type(x).__name__}")


def check_input(layer: str, x, ndims, channels: int | None = None, channel_dim: int = 1,
                dtype=None, what: str = "channels") -> Tensor:
    """Validate a layer's input before any maths; return it as a Tensor.

    Args:
        layer: the layer's repr-like name for messages, e.g. "Conv2d(3, 64, ...)".
        ndims: allowed numbers of dimensions with their layout, e.g. {4: "(N, C, H, W)"}.
        channels: expected size of ``x.shape[channel_dim]`` (None: unchecked).
        dtype: the parameters' dtype; a different input dtype is an error.
    """
    x = as_input(layer, x)
    if x.ndim not in ndims:
        layouts = " or ".join(f"{n}-D {layout}" for n, layout in ndims.items())
        raise ValueError(f"{layer}: expected {layouts} input, got shape {x.shape}")
    if channels is not None and x.shape[channel_dim] != channels:
        hint = ""
        if x.ndim == 4 and channel_dim == 1 and x.shape[-1] == channels:
            hint = ("; images are (N, C, H, W) here and this looks like (N, H, W, C): "
                    "use x.permute(0, 3, 1, 2)")
        raise ValueError(f"{layer}: expected input with {channels} {what}, "
                         f"got shape {x.shape}{hint}")
    return check_dtype(layer, x, dtype)


def check_dtype(layer: str, x: Tensor, dtype=None) -> Tensor:
    """A floating-point input, of the parameters' dtype when ``dtype`` is given."""
    if x.dtype.kind != "f":
        raise TypeError(f"{layer}: expected a floating-point input, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{layer}: input has dtype {x.dtype} but the layer's parameters are "
                        f"{dtype}; convert one (x.to('{dtype}') or model.to('{x.dtype}'))")
    return x
