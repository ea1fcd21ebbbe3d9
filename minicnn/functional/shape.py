"""Shape ops: flatten, cat, pad.

These move numbers around without arithmetic, so their backward only moves
the gradient back: flatten reshapes it, cat splits it into the pieces that
were joined, pad crops the padding off it.
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module

__all__ = ["flatten", "cat", "pad", "Cat", "Pad"]


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _dim(op, name, dim, ndim, shape):
    """``dim`` in [0, ndim), accepting negative dims as PyTorch."""
    if not _is_int(dim):
        raise TypeError(f"{op}: {name} must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{op}: {name}={dim} is out of range for a tensor of shape "
                         f"{shape} (expected -{n} <= {name} < {n})")
    return int(dim) % n


# -------------------------------------------------------------------- flatten
def flatten(x, start_dim=1, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""
    x = as_tensor(x)
    if x.ndim == 0:
        return x.reshape(1)                  # PyTorch flattens a scalar to (1,)
    start = _dim("flatten", "start_dim", start_dim, x.ndim, x.shape)
    end = _dim("flatten", "end_dim", end_dim, x.ndim, x.shape)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a tensor of shape {x.shape}")
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    shape = x.shape[:start] + (merged,) + x.shape[end + 1:]
    return x.reshape(shape)                  # e.g. (N, C, H, W) -> (N, C*H*W)


# ------------------------------------------------------------------------ cat
class Cat(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, *xs):
        xp = get_array_module(xs[0])
        self.sizes = [x.shape[self.dim] for x in xs]
        return xp.concatenate(xs, axis=self.dim)

    def backward(self, gy):
        # each input gets back its own slab of the gradient along ``dim``
        grads, start = [], 0
        index = [slice(None)] * gy.ndim
        for size, need in zip(self.sizes, self.needs_grad):
            index[self.dim] = slice(start, start + size)
            grads.append(gy[tuple(index)].copy() if need else None)
            start += size
        return tuple(grads)


def cat(tensors, dim=0):
    """Concatenate tensors along ``dim``; all other dims must agree.

    (N1, C, ...), (N2, C, ...) with dim=0 -> (N1 + N2, C, ...).
    """
    if isinstance(tensors, (str, bytes)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"cat: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    d = _dim("cat", "dim", dim, first.ndim, first.shape)
    for i, t in enumerate(tensors[1:], start=1):
        same = t.ndim == first.ndim and all(
            a == b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != d)
        if not same:
            raise ValueError(f"cat: sizes of tensors must match except in dimension {d}: "
                             f"tensor 0 has shape {first.shape}, tensor {i} has shape "
                             f"{t.shape}")
    return Cat(d)(*tensors)


# ------------------------------------------------------------------------ pad
class Pad(Function):
    """Constant padding; negative amounts crop. ``widths``: (before, after) per dim.

    Output index o along a dim holds input index o - before, where that exists;
    the rest is ``value``. Forward copies the overlap in, backward copies the
    gradient of the overlap out (the padding's gradient goes nowhere).
    """

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def _overlap(self, shape):
        """Slices of the region shared by input and output, in each's coordinates."""
        in_index, out_index = [], []
        for n, (before, after) in zip(shape, self.widths):
            # output positions [lo, hi) hold input positions [lo - before, hi - before)
            lo = max(0, before)
            hi = max(lo, min(n + before + after, n + before))
            in_index.append(slice(lo - before, hi - before))
            out_index.append(slice(lo, hi))
        return tuple(in_index), tuple(out_index)

    def forward(self, x):
        xp = get_array_module(x)
        self.x_shape = x.shape
        out_shape = tuple(n + b + a for n, (b, a) in zip(x.shape, self.widths))
        y = xp.full(out_shape, self.value, dtype=x.dtype)
        in_index, out_index = self._overlap(x.shape)
        y[out_index] = x[in_index]
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        in_index, out_index = self._overlap(self.x_shape)
        gx[in_index] = gy[out_index]
        return gx


def pad(x, pad, mode="constant", value=0):
    """Pad (or, with negative amounts, crop) the last dims of x, as PyTorch.

    ``pad`` lists (before, after) pairs starting from the LAST dim:
    (left, right) pads W; (left, right, top, bottom) pads W then H; and so on.
    x: (..., H, W) -> (..., H + top + bottom, W + left + right).
    Only mode='constant' (fill with ``value``) is supported.
    """
    x = as_tensor(x)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got mode={mode!r}")
    if not isinstance(pad, (tuple, list)) or not all(_is_int(p) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2 != 0:
        raise ValueError(f"pad: pad must have an even length (before, after pairs), got "
                         f"{len(pad)} values {tuple(pad)}")
    if len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad {tuple(pad)} covers {len(pad) // 2} dims but the "
                         f"input has only {x.ndim} (shape {x.shape})")
    if not isinstance(value, numbers.Real):
        raise TypeError(f"pad: value must be a number, got {value!r}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    for d, (n, (before, after)) in enumerate(zip(x.shape, widths)):
        # PyTorch crops first (negative amounts), then pads: the crop must fit
        cropped = n + min(before, 0) + min(after, 0)
        if cropped < 0:
            raise ValueError(f"pad: padding {(before, after)} of dim {d} (size {n}) "
                             f"crops more than the dim holds (size {cropped})")
    return Pad(tuple(widths), value)(x)
