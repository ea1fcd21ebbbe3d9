"""Pooling: max, average and adaptive average/max over KH x KW windows.

Notation (NCHW throughout):

    x: (N, C, H, W) -> y: (N, C, OH, OW)
    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1          (ceil_mode=False)
    OH = ceil((H + 2*PH - DH*(KH-1) - 1) / SH) + 1      (ceil_mode=True), minus one
         when that last window would start past the input and its left padding
    (``pool_output_size``, kept with the rest of the window geometry in _geometry.py)

Like im2col, the references loop over the KH*KW window offsets (i, j), never
over output pixels: for a fixed offset, the inputs that tap (i, j) sees at all
output positions form one strided slice of the padded image.

The hot loops go through ``minicnn.backend.kernel(name, reference)``; the plain
functions here (``max_pool2d_forward_reference`` ...) are the references a
faster backend's kernels are tested against.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module, kernel
from minicnn.functional._geometry import (
    check_image,
    contiguous,
    dilated_kernel_size,
    pair,
    pool_output_size,
    tap_slice,
)

__all__ = [
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "MaxPool2dFunction", "AvgPool2dFunction", "AdaptiveAvgPool2dFunction",
    "AdaptiveMaxPool2dFunction",
    "max_pool2d_forward_reference", "max_pool2d_backward_reference",
    "avg_pool2d_forward_reference", "avg_pool2d_backward_reference",
    "pool_output_size", "avg_pool2d_divisor",
]


# ------------------------------------------------------------------ geometry
def _pad_to(x, PH, PW, HP, WP, value):
    """Pad x to (HP, WP) rows/columns: PH/PW in front, the rest (padding and
    ceil_mode overhang) at the end, filled with ``value``."""
    xp = get_array_module(x)
    H, W = x.shape[2:]
    pad = ((0, 0), (0, 0), (PH, HP - H - PH), (PW, WP - W - PW))
    return xp.pad(x, pad, constant_values=value)


def _padded_extent(size, out, K, S, P, D=1):
    """Rows (or columns) the padded image needs: padding and ceil overhang.

    The last window starts at padded pixel S*(out-1) and covers D*(K-1) + 1.
    """
    return max(size + 2 * P, S * (out - 1) + dilated_kernel_size(K, D))


def _check_pool_args(op, x, kernel_size, stride, padding, dilation=1):
    check_image(op, x)
    KH, KW = pair(op, "kernel_size", kernel_size, 1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        SH, SW = KH, KW  # PyTorch's default: non-overlapping windows
    else:
        SH, SW = pair(op, "stride", stride, 1)
    PH, PW = pair(op, "padding", padding, 0)
    if PH > KH // 2 or PW > KW // 2:
        raise ValueError(
            f"{op}: padding should be at most half of the kernel size, but got padding "
            f"({PH}, {PW}) for kernel_size ({KH}, {KW})")
    DH, DW = pair(op, "dilation", dilation, 1)
    return (KH, KW), (SH, SW), (PH, PW), (DH, DW)


def _check_output(op, x, OH, OW):
    if OH < 1 or OW < 1:
        raise ValueError(
            f"{op}: input size {x.shape[2:]} is too small: the computed output size is "
            f"({OH}, {OW}) (input shape {x.shape})")


def _padding_only_window(size, out, K, S, P, D):
    """The first output index whose dilated window taps only padding, or None.

    Without dilation PyTorch's rules (padding <= K/2, ceil_mode's last-window
    rule) rule this out; a dilated window can jump over the whole input.
    """
    for o in range(out):
        taps = [o * S - P + i * D for i in range(K)]
        if not any(0 <= t < size for t in taps):
            return o
    return None


def _check_dilated_windows(op, x, K, S, P, D, out):
    """Every window must see a real pixel (PyTorch returns -inf and a bogus index)."""
    for axis, name in ((0, "row"), (1, "column")):
        o = _padding_only_window(x.shape[2 + axis], out[axis], K[axis], S[axis], P[axis],
                                 D[axis])
        if o is not None:
            raise ValueError(
                f"{op}: the window of output {name} {o} sees only padding (input size "
                f"{x.shape[2:]}, kernel_size {K}, stride {S}, padding {P}, dilation {D}); "
                "use less padding or dilation")


# --------------------------------------------------------- max pool reference
def max_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW, OH, OW, DH=1, DW=1):
    """Max over each window, and where it was (the reference kernel).

    x: (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW) int64), argmax
    being the flat index h*W + w into the unpadded input plane. Padding is
    -inf and never chosen. Ties go to the first maximum in row-major window
    order, as PyTorch on the CPU: offsets are visited in that order and a later
    one wins only if strictly larger (or NaN, which PyTorch propagates).
    DH/DW (dilation) are an extension of the kernel contract, which has none.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    HP = _padded_extent(H, OH, KH, SH, PH, DH)
    WP = _padded_extent(W, OW, KW, SW, PW, DW)
    img = _pad_to(x, PH, PW, HP, WP, -xp.inf)
    oh = xp.arange(OH) * SH - PH  # top row of each window, in input coordinates
    ow = xp.arange(OW) * SW - PW
    y = xp.full((N, C, OH, OW), -xp.inf, dtype=x.dtype)
    argmax = xp.zeros((N, C, OH, OW), dtype=xp.int64)
    seen = xp.zeros((OH, OW), dtype=bool)  # does the window already hold a real pixel?
    for i in range(KH):
        h = oh + i * DH  # (OH,) input row that tap i sees
        for j in range(KW):
            w = ow + j * DW  # (OW,)
            inside = ((h >= 0) & (h < H))[:, None] & ((w >= 0) & (w < W))[None, :]
            v = img[:, :, tap_slice(i * DH, OH, SH), tap_slice(j * DW, OW, SW)]
            # the first real pixel of a window always enters (even -inf), as
            # PyTorch starts from it; later ones only when strictly larger
            better = inside & (~seen | (v > y) | xp.isnan(v))
            y = xp.where(better, v, y)
            argmax = xp.where(better, h[:, None] * W + w[None, :], argmax)
            seen = seen | inside
    return y, argmax


def max_pool2d_backward_reference(gy, argmax, x_shape):
    """Route each output gradient to the input pixel that won its window.

    gy, argmax: (N, C, OH, OW) -> gx: x_shape = (N, C, H, W). Overlapping
    windows (stride < kernel) may pick the same pixel: its gradients add up.
    """
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    # argmax indexes one (H*W) plane; shift it to plane n*C + c of the whole batch
    plane = xp.arange(N * C, dtype=xp.int64).reshape(N, C, 1, 1) * (H * W)
    flat = (argmax + plane).reshape(-1)  # (N, C, OH, OW) -> (N*C*OH*OW,)
    gx = xp.bincount(flat, weights=gy.reshape(-1), minlength=N * C * H * W)
    return gx.astype(gy.dtype, copy=False).reshape(N, C, H, W)  # (N*C*H*W,) -> x_shape


class MaxPool2dFunction(Function):
    """Max pooling; saves only the argmax of every window for backward."""

    def __init__(self, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW):
        self.geometry = (KH, KW, SH, SW, PH, PW, OH, OW)
        self.dilation = (DH, DW)

    def forward(self, x):
        self.x_shape = x.shape
        if self.dilation == (1, 1):
            fn = kernel("max_pool2d_forward", max_pool2d_forward_reference, like=x)
            y, self.argmax = fn(contiguous(x), *self.geometry)
        else:  # the kernel contract has no dilation: the reference runs it
            y, self.argmax = max_pool2d_forward_reference(x, *self.geometry, *self.dilation)
        return y

    def backward(self, gy):
        # y = x[argmax], so dL/dx[p] = sum of gy over the windows whose max is p
        fn = kernel("max_pool2d_backward", max_pool2d_backward_reference, like=gy)
        return fn(contiguous(gy), self.argmax, self.x_shape)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """2-D max pooling (torch.nn.functional.max_pool2d).

    Args:
        x: Tensor (N, C, H, W).
        kernel_size: int or (KH, KW).
        stride: int or pair; None means kernel_size (non-overlapping windows).
            AlexNet's overlapping pooling is kernel_size=3, stride=2.
        padding: int or pair, at most half the kernel; padded cells are -inf.
        dilation: int or pair, the spacing between the window's taps.
        ceil_mode: round the output size up (see the module docstring).
    Returns:
        Tensor (N, C, OH, OW), y[n, c, oh, ow] = max over the window at (oh, ow).
        The gradient flows to the first maximum of each window (row-major).
    """
    x = as_tensor(x)
    (KH, KW), (SH, SW), (PH, PW), (DH, DW) = _check_pool_args(
        "max_pool2d", x, kernel_size, stride, padding, dilation)
    OH = pool_output_size(x.shape[2], KH, SH, PH, DH, ceil_mode)
    OW = pool_output_size(x.shape[3], KW, SW, PW, DW, ceil_mode)
    _check_output("max_pool2d", x, OH, OW)
    _check_dilated_windows("max_pool2d", x, (KH, KW), (SH, SW), (PH, PW), (DH, DW), (OH, OW))
    return MaxPool2dFunction(KH, KW, SH, SW, PH, PW, DH, DW, OH, OW)(x)


# --------------------------------------------------------- avg pool reference
def avg_pool2d_divisor(H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad=True,
                       divisor_override=None, xp=None):
    """PyTorch's divisor of each window, an (OH, OW) float64 array.

    A window spans rows [oh*SH - PH, oh*SH - PH + KH), clipped to the padded
    input [-PH, H + PH) (the ceil_mode overhang never counts); with
    count_include_pad it divides by that clipped size, otherwise by the number
    of real pixels in it; divisor_override replaces both.
    """
    if xp is None:
        xp = get_array_module()
    if divisor_override is not None:
        return xp.full((OH, OW), float(divisor_override))

    def extent(out, K, S, P, size):
        start = xp.arange(out) * S - P
        end = xp.minimum(start + K, size + P)
        if count_include_pad:
            return end - start
        return xp.minimum(end, size) - xp.maximum(start, 0)

    rows = extent(OH, KH, SH, PH, H)  # (OH,)
    cols = extent(OW, KW, SW, PW, W)  # (OW,)
    return (rows[:, None] * cols[None, :]).astype(xp.float64)


def avg_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    """Sum of each window divided by its divisor (the reference kernel).

    x: (N, C, H, W), divisor: (OH, OW) -> y: (N, C, OH, OW). Padding is zero.
    """
    xp = get_array_module(x)
    H, W = x.shape[2:]
    img = _pad_to(x, PH, PW, _padded_extent(H, OH, KH, SH, PH),
                  _padded_extent(W, OW, KW, SW, PW), 0)
    total = xp.zeros(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            total += img[:, :, tap_slice(i, OH, SH), tap_slice(j, OW, SW)]
    return total / divisor.astype(x.dtype)


def avg_pool2d_backward_reference(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    """Spread each window's gradient evenly over it (the reference kernel).

    y = (sum of the window) / d, so every pixel of the window gets gy / d;
    pixels shared by overlapping windows collect from each.
    gy: (N, C, OH, OW) -> gx: x_shape = (N, C, H, W).
    """
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    OH, OW = gy.shape[2:]
    HP = _padded_extent(H, OH, KH, SH, PH)
    WP = _padded_extent(W, OW, KW, SW, PW)
    g = gy / divisor.astype(gy.dtype)
    img = xp.zeros((N, C, HP, WP), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            img[:, :, tap_slice(i, OH, SH), tap_slice(j, OW, SW)] += g
    # padding and overhang belong to no pixel: drop their gradient
    return xp.ascontiguousarray(img[:, :, PH:PH + H, PW:PW + W])


class AvgPool2dFunction(Function):
    """Average pooling with PyTorch's per-window divisor."""

    def __init__(self, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
        self.geometry = (KH, KW, SH, SW, PH, PW)
        self.out_size = (OH, OW)
        self.divisor = divisor

    def forward(self, x):
        self.x_shape = x.shape
        fn = kernel("avg_pool2d_forward", avg_pool2d_forward_reference, like=x)
        return fn(contiguous(x), *self.geometry, *self.out_size, self.divisor)

    def backward(self, gy):
        fn = kernel("avg_pool2d_backward", avg_pool2d_backward_reference, like=gy)
        return fn(contiguous(gy), self.x_shape, *self.geometry, self.divisor)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling (torch.nn.functional.avg_pool2d).

    Args:
        x: Tensor (N, C, H, W).
        kernel_size: int or (KH, KW); stride: int or pair, None = kernel_size.
        padding: int or pair, at most half the kernel; padded cells are zero.
        ceil_mode: round the output size up.
        count_include_pad: divide by the window size including padding (but
            not the ceil_mode overhang past the padding), else by the number
            of real pixels in the window.
        divisor_override: a fixed divisor for every window.
    Returns:
        Tensor (N, C, OH, OW), y = (sum over the window) / divisor.
    """
    x = as_tensor(x)
    (KH, KW), (SH, SW), (PH, PW), _ = _check_pool_args(
        "avg_pool2d", x, kernel_size, stride, padding)
    if divisor_override is not None:
        if (not isinstance(divisor_override, numbers.Integral)
                or isinstance(divisor_override, bool) or divisor_override == 0):
            raise ValueError(f"avg_pool2d: divisor_override must be a non-zero int, "
                             f"got {divisor_override!r}")
    H, W = x.shape[2:]
    OH = pool_output_size(H, KH, SH, PH, 1, ceil_mode)
    OW = pool_output_size(W, KW, SW, PW, 1, ceil_mode)
    _check_output("avg_pool2d", x, OH, OW)
    divisor = avg_pool2d_divisor(H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad,
                                 divisor_override, get_array_module(x.data))
    return AvgPool2dFunction(KH, KW, SH, SW, PH, PW, OH, OW, divisor)(x)


# ------------------------------------------------------------ adaptive pooling
def _adaptive_output_size(op, x, output_size):
    """(OH, OW) from an int, a pair, or a pair with None (keep that input size)."""
    H, W = x.shape[2:]
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        sizes = [H if output_size[0] is None else output_size[0],
                 W if output_size[1] is None else output_size[1]]
    else:
        sizes = output_size
    OH, OW = pair(op, "output_size", sizes, 1)
    return OH, OW


def _adaptive_windows(size, out):
    """PyTorch's adaptive windows: output i covers [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _averaging_matrix(size, out, dtype, xp):
    """A (out, size) matrix whose row i averages window i: A[i, start:end] = 1/(end-start)."""
    A = xp.zeros((out, size), dtype=dtype)
    for i, (start, end) in enumerate(_adaptive_windows(size, out)):
        A[i, start:end] = 1.0 / (end - start)
    return A


class AdaptiveAvgPool2dFunction(Function):
    """Adaptive average pooling as two small matrix products.

    A window is a rectangle (a row range times a column range), so its mean
    factors into a mean over rows then over columns:

        y = A_h @ x @ A_w^T      A_h: (OH, H), A_w: (OW, W), matmul over (N, C)

    and the backward is the transpose of that linear map, gx = A_h^T @ gy @ A_w.
    """

    def __init__(self, OH, OW):
        self.out_size = (OH, OW)

    def forward(self, x):
        xp = get_array_module(x)
        H, W = x.shape[2:]
        OH, OW = self.out_size
        self.Ah = _averaging_matrix(H, OH, x.dtype, xp)  # (OH, H)
        self.Aw = _averaging_matrix(W, OW, x.dtype, xp)  # (OW, W)
        return xp.matmul(xp.matmul(self.Ah, x), self.Aw.T)  # (N, C, OH, OW)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.matmul(xp.matmul(self.Ah.T, gy), self.Aw)  # (N, C, H, W)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (torch.nn.functional.adaptive_avg_pool2d).

    Args:
        x: Tensor (N, C, H, W).
        output_size: int or (OH, OW); a None entry keeps that input size.
            output_size=1 is global average pooling (ResNet's head).
    Returns:
        Tensor (N, C, OH, OW); output (oh, ow) averages rows
        [floor(oh*H/OH), ceil((oh+1)*H/OH)) and the columns likewise.
    """
    x = as_tensor(x)
    check_image("adaptive_avg_pool2d", x)
    OH, OW = _adaptive_output_size("adaptive_avg_pool2d", x, output_size)
    return AdaptiveAvgPool2dFunction(OH, OW)(x)


class AdaptiveMaxPool2dFunction(Function):
    """Adaptive max pooling; windows differ in size, so it loops over the OH*OW
    outputs (few: adaptive pooling shrinks to a small grid) and saves the argmax."""

    def __init__(self, OH, OW):
        self.out_size = (OH, OW)

    def forward(self, x):
        xp = get_array_module(x)
        N, C, H, W = x.shape
        OH, OW = self.out_size
        self.x_shape = x.shape
        y = xp.empty((N, C, OH, OW), dtype=x.dtype)
        self.argmax = xp.empty((N, C, OH, OW), dtype=xp.int64)
        for oh, (h0, h1) in enumerate(_adaptive_windows(H, OH)):
            for ow, (w0, w1) in enumerate(_adaptive_windows(W, OW)):
                # (N, C, h1-h0, w1-w0) -> (N, C, window): argmax takes the first maximum
                window = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
                k = window.argmax(axis=2)  # (N, C) row-major position in the window
                y[:, :, oh, ow] = xp.take_along_axis(window, k[:, :, None], axis=2)[..., 0]
                wh = w1 - w0
                self.argmax[:, :, oh, ow] = (h0 + k // wh) * W + (w0 + k % wh)
        return y

    def backward(self, gy):
        # the same routing as max pooling: each gradient goes to its window's max
        fn = kernel("max_pool2d_backward", max_pool2d_backward_reference, like=gy)
        return fn(contiguous(gy), self.argmax, self.x_shape)


def adaptive_max_pool2d(x, output_size):
    """Max pooling to a fixed output size (torch.nn.functional.adaptive_max_pool2d).

    Args:
        x: Tensor (N, C, H, W).
        output_size: int or (OH, OW); a None entry keeps that input size.
    Returns:
        Tensor (N, C, OH, OW), the maximum over PyTorch's adaptive windows
        (see adaptive_avg_pool2d).
    """
    x = as_tensor(x)
    check_image("adaptive_max_pool2d", x)
    OH, OW = _adaptive_output_size("adaptive_max_pool2d", x, output_size)
    return AdaptiveMaxPool2dFunction(OH, OW)(x)

