"""The fully connected layer: y = x W^T + b.

    x: (N, in) or (..., in)      W: (out, in)      b: (out,)      y: (..., out)

Backward, with every batch axis folded into one of M rows (x2: (M, in),
gy2: (M, out)):

    gx = gy W          (M, out) @ (out, in) -> (M, in)
    gW = gy2^T x2      (out, M) @ (M, in)   -> (out, in), summed over the batch
    gb = sum over the M rows of gy2

One Function rather than matmul(x, W.T) + b: the composite's weight gradient
arrives as a transposed (in, out) view, and turning that into ``W.grad`` costs a
strided copy of the whole matrix (150 MB for AlexNet's fc6).
"""
from __future__ import annotations

from minicnn.autograd import Function, as_tensor

__all__ = ["linear", "LinearFunction"]


class LinearFunction(Function):
    def forward(self, x, W, b=None):
        self.x, self.W = x, W
        y = x @ W.T                                  # (..., in) @ (in, out) -> (..., out)
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, W = self.x, self.W
        out_features, in_features = W.shape
        gy2 = gy.reshape(-1, out_features)           # (..., out) -> (M, out)
        gx = gy @ W if self.needs_grad[0] else None  # (..., out) @ (out, in)
        gW = None
        if self.needs_grad[1]:
            gW = gy2.T @ x.reshape(-1, in_features)  # (out, M) @ (M, in)
        if len(self.needs_grad) == 2:
            return gx, gW
        gb = gy2.sum(axis=0) if self.needs_grad[2] else None
        return gx, gW, gb


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
    if bias is None:
        return LinearFunction()(x, weight)
    bias = as_tensor(bias, like=x)
    if bias.shape != (out_features,):
        raise ValueError(f"linear: bias must have shape ({out_features},) to match "
                         f"weight shape {weight.shape}, got {bias.shape}")
    return LinearFunction()(x, weight, bias)
