"""The fully connected layer: y = x W^T + b.

    x: (N, in) or (..., in)      W: (out, in)      b: (out,)      y: (..., out)

It is built from the primitives ``matmul`` and ``add``, whose backward
already gives, summed over the batch axes,

    gx = gy W,    gW = gy^T x,    gb = sum over the batch of gy.
"""
from __future__ import annotations

from minicnn import ops
from minicnn.tensor import as_tensor

__all__ = ["linear"]


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias.

    Args:
        x: (N, in), (..., in) or (in,).
        weight: (out, in), PyTorch's layout (one row per output feature).
        bias: (out,) or None.
    Returns:
        y: (..., out).
    """
    x = as_tensor(x)
    weight = as_tensor(weight, like=x)
    if x.dtype.kind != "f":
        raise TypeError(f"linear: expected a floating-point input, got dtype {x.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got "
                         f"shape {weight.shape}")
    if x.ndim < 1:
        raise ValueError("linear: input must have at least 1 dimension (..., in_features), "
                         "got a 0-D tensor")
    out_features, in_features = weight.shape
    if x.shape[-1] != in_features:
        raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but "
                         f"weight expects {in_features} (weight shape {weight.shape})")
    y = ops.matmul(x, weight.transpose())       # (..., in) @ (in, out) -> (..., out)
    if bias is not None:
        bias = as_tensor(bias, like=x)
        if bias.shape != (out_features,):
            raise ValueError(f"linear: bias must have shape ({out_features},) to match "
                             f"weight shape {weight.shape}, got {bias.shape}")
        y = y + bias
    return y
