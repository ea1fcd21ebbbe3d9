"""Geometry of the sliding-window ops (convolution and pooling), in one place.

Along one axis, a window of K taps spaced D apart (the dilation) slides over an
input of ``size`` pixels padded by P on both sides, S pixels per step (the
stride). The window covers ``D*(K-1) + 1`` pixels, so it fits

    out = (size + 2*P - D*(K-1) - 1) // S + 1

times: PyTorch's formula, Chainer's ``h_O = (h_I + 2h_P - h_K)/s_Y + 1`` with
the dilated kernel for h_K. Output pixel o's window starts at o*S - P, and tap
i of every window reads one strided slice of the padded input (``tap_slice``).

Everything the conv and pooling files (functional/, kernels/, benchmarks/flops.py)
share about that geometry lives here:

- the output size (``conv_output_size``, ``conv_output_hw``, and pooling's
  ``pool_output_size`` with its ceil_mode rule);
- how an argument becomes a pair: ``pair``, ``padding_pair``, and the
  amounts of ``padding='same'`` (``same_padding``);
- the pointwise test (``is_pointwise``): when the input is its own column matrix;
- how many images one chunk of a convolution holds under the workspace limit
  (``chunk_size``);
- the input checks every such op starts with (``check_image``, ``contiguous``).
"""
from __future__ import annotations

import numbers

from minicnn.backend import get_array_module, get_workspace

__all__ = [
    "as_int", "pair", "padding_pair", "check_image", "contiguous",
    "dilated_kernel_size", "conv_output_size", "conv_output_hw", "pool_output_size",
    "tap_slice", "check_kernel_fits", "same_padding", "is_pointwise", "chunk_size",
]


# ----------------------------------------------------------------- arguments
def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_int(op: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int >= ``minimum``, or a one-line error naming op and argument."""
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return int(value)


def pair(op: str, name: str, value, minimum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each >= ``minimum``: 3 -> (3, 3), [3, 5] -> (3, 5).

    The first element is the row (height) amount, the second the column (width) one.
    """
    if _is_int(value):
        values = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        values = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if minimum is not None and min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def padding_pair(op: str, value) -> tuple[int, int]:
    """(PH, PW) from an int or a pair, each >= 0 (zero padding cannot be negative)."""
    return pair(op, "padding", value, 0)


def check_image(op: str, x, what: str = "input") -> None:
    """x must be a floating-point (N, C, H, W) tensor or array."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D {what} (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point {what}, got dtype {x.dtype}; "
                        f"convert it with .to('float32')")


def contiguous(a):
    """``a`` C-contiguous, as the kernel contract wants (no copy when it already is)."""
    return get_array_module(a).ascontiguousarray(a)


# -------------------------------------------------------------- output size
def dilated_kernel_size(kernel_size: int, dilation: int) -> int:
    """Pixels a window of ``kernel_size`` taps spaced ``dilation`` apart covers."""
    return dilation * (kernel_size - 1) + 1


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Output length along one axis (PyTorch's formula):

        out = (size + 2*padding - dilation*(kernel_size-1) - 1) // stride + 1
    """
    return (size + 2 * padding - dilated_kernel_size(kernel_size, dilation)) // stride + 1


def conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW) -> tuple[int, int]:
    """(OH, OW) of a convolution or im2col over an H x W input."""
    return conv_output_size(H, KH, SH, PH, DH), conv_output_size(W, KW, SW, PW, DW)


def pool_output_size(size, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Output length of a pooling along one axis, exactly as PyTorch.

    Without ceil_mode it is ``conv_output_size``. With ceil_mode the division
    rounds up, but the last window must still start inside the input or its
    left padding (else it would see right padding only).
    """
    if not ceil_mode:
        return conv_output_size(size, kernel_size, stride, padding, dilation)
    span = size + 2 * padding - dilated_kernel_size(kernel_size, dilation)
    out = -(-span // stride) + 1  # ceil division
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def tap_slice(offset: int, out: int, stride: int) -> slice:
    """The slice of the padded input that one window tap sees at all ``out`` outputs.

    Tap i (offset i*D) of output o reads padded pixel o*S + i*D, so over
    o = 0 .. out-1 it reads ``offset : offset + S*(out-1) + 1 : S``.
    """
    return slice(offset, offset + stride * (out - 1) + 1, stride)


def check_kernel_fits(op: str, in_hw, KH, KW, PH, PW, DH, DW) -> None:
    """The dilated kernel must fit inside the padded input (else no output pixel)."""
    H, W = in_hw
    kernel = (dilated_kernel_size(KH, DH), dilated_kernel_size(KW, DW))
    padded = (H + 2 * PH, W + 2 * PW)
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel size {kernel} (after dilation) is larger than the padded input "
            f"size {padded} (input {tuple(in_hw)}, padding ({PH}, {PW})); use a larger "
            f"input, more padding or less dilation")


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding that keeps a stride-1 output as large as its input.

    The output keeps the input size when the padding adds up to the dilated
    kernel minus one, D*(K-1). An odd total puts the extra pixel after (at the
    bottom/right), as PyTorch does.
    """
    total = dilated_kernel_size(kernel_size, dilation) - 1
    return total // 2, total - total // 2


# --------------------------------------------------------- the column matrix
def is_pointwise(KH, KW, PH, PW) -> bool:
    """True for a 1x1, unpadded convolution: every column entry is one input pixel.

    Its columns are the input itself read with the stride, x[:, :, ::SH, ::SW]
    (a plain view when the stride is 1), so it needs no im2col; its column
    gradient goes straight back to those pixels, with no col2im.
    """
    return KH == 1 and KW == 1 and PH == 0 and PW == 0


def chunk_size(N: int, column_bytes: int, buffers: int = 1) -> int:
    """Images per chunk of a convolution over N images, between 1 and N.

    The workspace budget (``minicnn.set_workspace``): every column-sized
    buffer a chunk holds at the same time must fit in the workspace together.
    ``column_bytes`` is one image's columns (C*KH*KW * OH*OW * itemsize) and
    ``buffers`` how many such buffers the caller keeps alive at once (each
    caller says which in its docstring). A single image is always allowed,
    even when its columns alone exceed the limit.
    """
    per_image = buffers * column_bytes
    if per_image <= 0:  # nothing column-sized to hold: the whole batch at once
        return int(N)
    return int(max(1, min(N, get_workspace() // per_image)))
