"""Convolution as im2col + matrix multiplication.

Notation (NCHW throughout):

    x: (N, C, H, W)                 a batch of N images with C channels
    W: (OC, C/groups, KH, KW)       OC filters of size KH x KW
    b: (OC,)
    y: (N, OC, OH, OW)              OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
                                    OW = (W + 2*PW - DW*(KW-1) - 1) // SW + 1

im2col ("image to columns") copies every KH x KW patch the filter visits into
one column of a matrix, so that the whole convolution becomes one matrix
product (a GEMM), the operation BLAS and GPUs run fastest:

    cols = im2col(x)                (N, C*KH*KW, OH*OW)   row c*KH*KW + i*KW + j
    y    = W.reshape(OC, C*KH*KW) @ cols                  -> (N, OC, OH*OW)

col2im is its adjoint: it adds every column entry back onto the pixel it was
copied from (pixels that several patches share receive several additions).
It is the backward of im2col, and im2col is the backward of col2im.

The hot loops go through ``minicnn.backend.kernel(name, reference)``: the plain
NumPy/CuPy functions here are the references (``im2col_array``,
``col2im_array``, ``conv2d_forward_reference``, ``conv2d_backward_reference``)
and a faster backend may register drop-in kernels under the same names.
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module, get_workspace, kernel

__all__ = [
    "im2col", "col2im", "conv2d", "Im2col", "Col2im", "Conv2dFunction",
    "im2col_array", "col2im_array", "conv2d_forward_reference",
    "conv2d_backward_reference", "conv_output_size",
]


# ----------------------------------------------------------------- arguments
def _pair(op, name, value):
    """An int or a pair of ints as a tuple (a, b); anything else is an error."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                    for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _positive_pair(op, name, value):
    pair = _pair(op, name, value)
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {value!r}")
    return pair


def _padding_pair(op, value):
    pair = _pair(op, "padding", value)
    if min(pair) < 0:
        raise ValueError(f"{op}: padding must be >= 0 (negative padding is not "
                         f"supported), got {value!r}")
    return pair


def _contiguous(a):
    """The kernel contract wants C-contiguous arrays (a no-op when already so)."""
    return get_array_module(a).ascontiguousarray(a)


def _check_image(op, x, what="input"):
    """x must be a floating-point (N, C, H, W) tensor."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D {what} (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point {what}, got dtype {x.dtype}")


def conv_output_size(size, kernel_size, stride, padding, dilation):
    """Output length of a convolution along one axis (PyTorch's formula):

        out = (size + 2*padding - dilation*(kernel_size-1) - 1) // stride + 1
    """
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _check_fits(op, in_hw, KH, KW, PH, PW, DH, DW):
    """The dilated kernel must fit inside the padded input."""
    H, W = in_hw
    eff = (DH * (KH - 1) + 1, DW * (KW - 1) + 1)
    padded = (H + 2 * PH, W + 2 * PW)
    if eff[0] > padded[0] or eff[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel size {eff} (after dilation) is larger than the padded input "
            f"size {padded} (input {in_hw}, padding ({PH}, {PW}))")


# ------------------------------------------------------- raw-array references
def im2col_array(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """Unfold every KH x KW patch of x into a column (the reference kernel).

    x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), row index c*KH*KW + i*KW + j.

    Instead of looping over the OH*OW output pixels we loop over the KH*KW
    kernel offsets (i, j): for a fixed offset, the pixels the filter tap (i, j)
    sees at every output position form a strided slice of the padded image,
    img[:, :, i*DH : i*DH + SH*OH : SH, j*DW : j*DW + SW*OW : SW].
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    img = x
    if PH or PW:
        img = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # zeros around
    cols = xp.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for i in range(KH):
        i0 = i * DH
        i1 = i0 + SH * (OH - 1) + 1
        for j in range(KW):
            j0 = j * DW
            j1 = j0 + SW * (OW - 1) + 1
            cols[:, :, i, j, :, :] = img[:, :, i0:i1:SH, j0:j1:SW]
    # (N, C, KH, KW, OH, OW) -> (N, C*KH*KW, OH*OW): torch.nn.functional.unfold's layout
    return cols.reshape(N, C * KH * KW, OH * OW)


def col2im_array(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW):
    """Add every column entry back onto its pixel (the reference kernel).

    cols: (N, C*KH*KW, OH*OW) -> x: x_shape = (N, C, H, W).

    The adjoint of im2col_array, with the same loop over kernel offsets: the
    slice written by offset (i, j) holds distinct pixels, so ``+=`` on it is
    safe; different offsets overlap (patches share pixels) and accumulate.
    """
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    # (N, C*KH*KW, OH*OW) -> (N, C, KH, KW, OH, OW)
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    img = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=cols.dtype)
    for i in range(KH):
        i0 = i * DH
        i1 = i0 + SH * (OH - 1) + 1
        for j in range(KW):
            j0 = j * DW
            j1 = j0 + SW * (OW - 1) + 1
            img[:, :, i0:i1:SH, j0:j1:SW] += cols[:, :, i, j, :, :]
    if PH or PW:
        # the gradient that fell on the zero padding belongs to no pixel: drop it
        img = xp.ascontiguousarray(img[:, :, PH:PH + H, PW:PW + W])
    return img


# ----------------------------------------------------------- im2col / col2im
class Im2col(Function):
    """Differentiable im2col; its backward is col2im (the adjoint)."""

    def __init__(self, KH, KW, SH, SW, PH, PW, DH, DW):
        self.geometry = (KH, KW, SH, SW, PH, PW, DH, DW)

    def forward(self, x):
        self.x_shape = x.shape
        return kernel("im2col", im2col_array, like=x)(_contiguous(x), *self.geometry)

    def backward(self, gy):
        # y = P x for a 0/1 copy matrix P, so gx = P^T gy: col2im adds the
        # gradient of each copy back onto the pixel it was copied from.
        return kernel("col2im", col2im_array, like=gy)(_contiguous(gy), self.x_shape,
                                                       *self.geometry)


class Col2im(Function):
    """Differentiable col2im; its backward is im2col (the adjoint)."""

    def __init__(self, output_size, KH, KW, SH, SW, PH, PW, DH, DW):
        self.output_size = output_size
        self.geometry = (KH, KW, SH, SW, PH, PW, DH, DW)

    def forward(self, cols):
        N, CKK, _ = cols.shape
        KH, KW = self.geometry[:2]
        x_shape = (N, CKK // (KH * KW)) + tuple(self.output_size)
        return kernel("col2im", col2im_array, like=cols)(_contiguous(cols), x_shape,
                                                         *self.geometry)

    def backward(self, gy):
        # x = P^T cols, so gcols = P gx: every column entry reads the gradient
        # of the pixel it was added to.
        return kernel("im2col", im2col_array, like=gy)(_contiguous(gy), *self.geometry)


def im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """Unfold the sliding KH x KW patches of x into columns (torch.nn.functional.unfold).

    Args:
        x: Tensor (N, C, H, W).
        kernel_size, dilation, padding, stride: int or pair (rows, columns).
    Returns:
        Tensor (N, C*KH*KW, OH*OW); row ``c*KH*KW + i*KW + j`` holds kernel tap
        (i, j) of channel c, column ``oh*OW + ow`` the patch at output (oh, ow),
        ``OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1`` (OW likewise).

    Example, one 3x3 image and 2x2 patches (4 patches, 4 values each)::

        >>> import numpy, minicnn, minicnn.functional as F
        >>> x = minicnn.Tensor(numpy.arange(9.0).reshape(1, 1, 3, 3))
        >>> F.im2col(x, kernel_size=2).numpy()[0]
        array([[0., 1., 3., 4.],
               [1., 2., 4., 5.],
               [3., 4., 6., 7.],
               [4., 5., 7., 8.]])

    Row r is kernel tap (r // 2, r % 2) of every patch; column k is the patch
    at output position k, read row by row: column 0 is [[0, 1], [3, 4]], the
    top-left patch.
    """
    x = as_tensor(x)
    _check_image("im2col", x)
    KH, KW = _positive_pair("im2col", "kernel_size", kernel_size)
    DH, DW = _positive_pair("im2col", "dilation", dilation)
    PH, PW = _padding_pair("im2col", padding)
    SH, SW = _positive_pair("im2col", "stride", stride)
    _check_fits("im2col", x.shape[2:], KH, KW, PH, PW, DH, DW)
    return Im2col(KH, KW, SH, SW, PH, PW, DH, DW)(x)


def col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Fold columns back into images, summing overlaps (torch.nn.functional.fold).

    Args:
        cols: Tensor (N, C*KH*KW, L) with L = OH*OW, the layout im2col makes.
        output_size: (H, W) of the image to rebuild (int or pair).
        kernel_size, dilation, padding, stride: int or pair, as for im2col.
    Returns:
        Tensor (N, C, H, W): every column entry added onto the pixel it came from.

    Example: folding the im2col of a 3x3 image of ones counts how many 2x2
    patches cover each pixel::

        >>> import numpy, minicnn, minicnn.functional as F
        >>> ones = minicnn.Tensor(numpy.ones((1, 1, 3, 3)))
        >>> F.col2im(F.im2col(ones, 2), (3, 3), 2).numpy()[0, 0]
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    cols = as_tensor(cols)
    if cols.ndim != 3:
        raise ValueError(f"col2im: expected 3-D columns (N, C*KH*KW, L), got shape "
                         f"{cols.shape}")
    if cols.dtype.kind != "f":
        raise TypeError(f"col2im: expected floating-point columns, got dtype {cols.dtype}")
    H, W = _positive_pair("col2im", "output_size", output_size)
    KH, KW = _positive_pair("col2im", "kernel_size", kernel_size)
    DH, DW = _positive_pair("col2im", "dilation", dilation)
    PH, PW = _padding_pair("col2im", padding)
    SH, SW = _positive_pair("col2im", "stride", stride)
    if cols.shape[1] % (KH * KW) != 0:
        raise ValueError(
            f"col2im: dimension 1 of the columns ({cols.shape[1]}) must be divisible by "
            f"KH*KW = {KH * KW} (kernel_size ({KH}, {KW})); columns shape {cols.shape}")
    _check_fits("col2im", (H, W), KH, KW, PH, PW, DH, DW)
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    if cols.shape[2] != OH * OW:
        raise ValueError(
            f"col2im: expected {OH * OW} columns (OH*OW = {OH}*{OW} for output_size "
            f"({H}, {W})), got {cols.shape[2]} (columns shape {cols.shape})")
    return Col2im((H, W), KH, KW, SH, SW, PH, PW, DH, DW)(cols)


# ------------------------------------------------------------------- conv2d
def _is_pointwise(KH, KW, SH, SW, PH, PW):
    """A 1x1, stride-1, unpadded convolution: the image itself is the column matrix."""
    return KH == 1 and KW == 1 and SH == 1 and SW == 1 and PH == 0 and PW == 0


def _chunk_size(x, KH, KW, OH, OW):
    """Images per chunk so that one chunk's columns fit in the workspace (>= 1).

    The per-group rearrangement of the columns (``_group_columns``) is a second
    buffer of the same size when a chunk holds more than one image.
    """
    per_image = x.shape[1] * KH * KW * OH * OW * x.dtype.itemsize
    return max(1, get_workspace() // max(1, per_image))


def _group_columns(x, KH, KW, SH, SW, PH, PW, DH, DW, groups):
    """The columns of a chunk of images, arranged for one GEMM per group.

    x: (B, C, H, W) -> (groups, C/groups*KH*KW, B*OH*OW)
    """
    B, C, H, W = x.shape
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W, KW, SW, PW, DW)
    if _is_pointwise(KH, KW, SH, SW, PH, PW):
        cols = x.reshape(B, C, H * W)  # (B, C, H, W) -> (B, C*1*1, OH*OW): no copy
    else:
        cols = kernel("im2col", im2col_array, like=x)(x, KH, KW, SH, SW, PH, PW, DH, DW)
    K = C // groups * KH * KW
    # rows are c*KH*KW + ..., and group g owns channels g*C/groups ... so its rows
    # are contiguous: (B, C*KH*KW, L) -> (B, groups, K, L) -> (groups, K, B, L)
    cols = cols.reshape(B, groups, K, OH * OW).transpose(1, 2, 0, 3)
    return cols.reshape(groups, K, B * OH * OW)  # -> (groups, K, B*L)


def conv2d_forward_reference(x, W, b, SH, SW, PH, PW, DH, DW, groups):
    """y = W * x + b by im2col and one GEMM per group (the reference kernel).

    x: (N, C, H, W), W: (OC, C/groups, KH, KW), b: (OC,) or None
    -> y: (N, OC, OH, OW).

    For group g (input channels g*C/G ..., output channels g*OC/G ...):

        y_g = W_g @ cols_g      (OC/G, C/G*KH*KW) @ (C/G*KH*KW, B*OH*OW)

    The batch runs in chunks of B images so that one chunk's columns stay
    under ``minicnn.get_workspace()`` bytes.
    """
    xp = get_array_module(x)
    N, C = x.shape[:2]
    OC, _, KH, KW = W.shape
    OH = conv_output_size(x.shape[2], KH, SH, PH, DH)
    OW = conv_output_size(x.shape[3], KW, SW, PW, DW)
    G = groups
    Wg = W.reshape(G, OC // G, -1)  # (OC, C/G, KH, KW) -> (G, OC/G, C/G*KH*KW)
    y = xp.empty((N, OC, OH, OW), dtype=x.dtype)
    B = _chunk_size(x, KH, KW, OH, OW)
    for n0 in range(0, N, B):
        xc = x[n0:n0 + B]
        Bc = xc.shape[0]
        cols = _group_columns(xc, KH, KW, SH, SW, PH, PW, DH, DW, G)
        yc = xp.matmul(Wg, cols)  # (G, OC/G, K) @ (G, K, Bc*L) -> (G, OC/G, Bc*L)
        # (G, OC/G, Bc*L) -> (G, OC/G, Bc, OH, OW) -> (Bc, G, OC/G, OH, OW) -> (Bc, OC, OH, OW)
        yc = yc.reshape(G, OC // G, Bc, OH, OW).transpose(2, 0, 1, 3, 4)
        y[n0:n0 + Bc] = yc.reshape(Bc, OC, OH, OW)
    if b is not None:
        y += b.reshape(1, OC, 1, 1)  # (OC,) -> (1, OC, 1, 1): broadcast over N, OH, OW
    return y


def conv2d_backward_reference(gy, x, W, SH, SW, PH, PW, DH, DW, groups,
                              need_gx, need_gW, need_gb):
    """Gradients of the convolution (the reference kernel).

    gy: (N, OC, OH, OW) -> (gx (N, C, H, W), gW like W, gb (OC,)), None where
    the matching ``need_*`` is False.

    Per group, with Y = W @ cols + b (the forward as a matrix product):
        gW   = gY @ cols^T                      dL/dW_ab = sum_k gY_ak cols_bk
        gcols = W^T @ gY,  gx = col2im(gcols)   cols copies x, so x collects
                                                the gradient of every copy
        gb   = sum of gy over N, OH, OW         b is broadcast to every position
    The columns are recomputed chunk by chunk from x instead of being kept
    from the forward pass: memory stays under the workspace limit.
    """
    xp = get_array_module(x)
    N, C, H, W_in = x.shape
    OC, _, KH, KW = W.shape
    OH, OW = gy.shape[2:]
    G = groups
    K = C // G * KH * KW
    Wg = W.reshape(G, OC // G, K)  # (OC, C/G, KH, KW) -> (G, OC/G, K)
    gx = xp.empty(x.shape, dtype=x.dtype) if need_gx else None
    gWg = xp.zeros((G, OC // G, K), dtype=W.dtype) if need_gW else None
    gb = gy.sum(axis=(0, 2, 3)) if need_gb else None
    if need_gx or need_gW:
        B = _chunk_size(x, KH, KW, OH, OW)
        for n0 in range(0, N, B):
            gyc = gy[n0:n0 + B]
            Bc = gyc.shape[0]
            # (Bc, OC, OH, OW) -> (Bc, G, OC/G, L) -> (G, OC/G, Bc, L) -> (G, OC/G, Bc*L)
            gyc = gyc.reshape(Bc, G, OC // G, OH * OW).transpose(1, 2, 0, 3)
            gyc = gyc.reshape(G, OC // G, Bc * OH * OW)
            if need_gW:
                cols = _group_columns(x[n0:n0 + Bc], KH, KW, SH, SW, PH, PW, DH, DW, G)
                gWg += xp.matmul(gyc, cols.transpose(0, 2, 1))  # (G, OC/G, K)
            if need_gx:
                gcols = xp.matmul(Wg.transpose(0, 2, 1), gyc)  # (G, K, Bc*L)
                # (G, K, Bc*L) -> (G, K, Bc, L) -> (Bc, G, K, L) -> (Bc, C*KH*KW, L)
                gcols = gcols.reshape(G, K, Bc, OH * OW).transpose(2, 0, 1, 3)
                gcols = gcols.reshape(Bc, C * KH * KW, OH * OW)
                if _is_pointwise(KH, KW, SH, SW, PH, PW):
                    gx[n0:n0 + Bc] = gcols.reshape(Bc, C, H, W_in)  # the columns are x
                else:
                    gx[n0:n0 + Bc] = kernel("col2im", col2im_array, like=gcols)(
                        gcols, (Bc, C, H, W_in), KH, KW, SH, SW, PH, PW, DH, DW)
    gW = gWg.reshape(W.shape) if need_gW else None  # (G, OC/G, K) -> (OC, C/G, KH, KW)
    return gx, gW, gb


class Conv2dFunction(Function):
    """2-D convolution (cross-correlation, as in every DL framework).

    ``extra`` = (rows, columns) of additional zero padding at the bottom/right:
    padding='same' with an even dilated kernel needs one more row/column on one
    side than on the other, and PyTorch puts it at the bottom/right.
    """

    def __init__(self, stride, padding, dilation, groups, extra=(0, 0)):
        self.SH, self.SW = stride
        self.PH, self.PW = padding
        self.DH, self.DW = dilation
        self.groups = groups
        self.extra = extra

    def _pad_extra(self, x):
        if self.extra == (0, 0):
            return _contiguous(x)
        xp = get_array_module(x)
        EH, EW = self.extra
        return xp.pad(x, ((0, 0), (0, 0), (0, EH), (0, EW)))

    def forward(self, x, W, b=None):
        # the columns are recomputed in backward, not kept
        self.x, self.W = x, _contiguous(W)
        self.has_bias = b is not None
        geometry = (self.SH, self.SW, self.PH, self.PW, self.DH, self.DW, self.groups)
        b = None if b is None else _contiguous(b)
        return kernel("conv2d_forward", conv2d_forward_reference, like=x)(
            self._pad_extra(x), self.W, b, *geometry)

    def backward(self, gy):
        need_gx, need_gW = self.needs_grad[0], self.needs_grad[1]
        need_gb = self.has_bias and self.needs_grad[2]
        geometry = (self.SH, self.SW, self.PH, self.PW, self.DH, self.DW, self.groups)
        gx, gW, gb = kernel("conv2d_backward", conv2d_backward_reference, like=gy)(
            _contiguous(gy), self._pad_extra(self.x), self.W, *geometry,
            need_gx, need_gW, need_gb)
        if gx is not None and self.extra != (0, 0):
            H, W_in = self.x.shape[2:]
            # drop the gradient of the extra zero rows/columns
            gx = _contiguous(gx[:, :, :H, :W_in])
        if self.has_bias:
            return gx, gW, gb
        return gx, gW


def _conv_padding(padding, KH, KW, SH, SW, DH, DW):
    """(PH, PW) and the extra bottom/right (EH, EW) for an int/pair/'same'/'valid'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if SH != 1 or SW != 1:
                raise ValueError(
                    f"conv2d: padding='same' is not supported for strided convolutions "
                    f"(stride ({SH}, {SW})); pass an explicit padding")
            # the output keeps the input size when the padding adds up to the
            # dilated kernel minus one; an odd total puts the extra at the end
            total_h, total_w = DH * (KH - 1), DW * (KW - 1)
            PH, PW = total_h // 2, total_w // 2
            return (PH, PW), (total_h - 2 * PH, total_w - 2 * PW)
        raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    return _padding_pair("conv2d", padding), (0, 0)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over a batch of images (torch.nn.functional.conv2d).

    Args:
        x: Tensor (N, C, H, W), floating point.
        weight: Tensor (OC, C/groups, KH, KW), same dtype as x.
        bias: Tensor (OC,) or None.
        stride, dilation: int or pair (SH, SW), (DH, DW), each >= 1.
        padding: int, pair (PH, PW), 'valid' (no padding) or 'same' (output
            as large as the input; stride 1 only).
        groups: split the C input and OC output channels into this many
            independent groups (2: AlexNet's two towers; C: depthwise).
    Returns:
        Tensor (N, OC, OH, OW),
            y[n, o] = b[o] + sum_{c, i, j} W[o, c, i, j] * xpad[n, g*C/groups + c,
                                                             oh*SH + i*DH, ow*SW + j*DW]
        with OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 (OW likewise) and g the
        group of output channel o.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_image("conv2d", x)
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D weight (OC, C/groups, KH, KW), got shape "
                         f"{weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d: input dtype {x.dtype} does not match weight dtype "
                        f"{weight.dtype}; convert one with .to(dtype)")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    if C % groups != 0:
        raise ValueError(f"conv2d: input channels ({C}) must be divisible by groups "
                         f"({groups}); input shape {x.shape}")
    if OC % groups != 0:
        raise ValueError(f"conv2d: output channels ({OC}) must be divisible by groups "
                         f"({groups}); weight shape {weight.shape}")
    if C != Cg * groups:
        raise ValueError(
            f"conv2d: input has {C} channels but weight expects {Cg * groups} "
            f"(weight shape {weight.shape}, groups={groups}, input shape {x.shape})")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (OC,):
            raise ValueError(f"conv2d: expected bias of shape ({OC},) for weight shape "
                             f"{weight.shape}, got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"conv2d: input dtype {x.dtype} does not match bias dtype "
                            f"{bias.dtype}; convert one with .to(dtype)")
    SH, SW = _positive_pair("conv2d", "stride", stride)
    DH, DW = _positive_pair("conv2d", "dilation", dilation)
    (PH, PW), extra = _conv_padding(padding, KH, KW, SH, SW, DH, DW)
    # the extra bottom/right row of 'same' padding counts as input here
    _check_fits("conv2d", (H + extra[0], W + extra[1]), KH, KW, PH, PW, DH, DW)
    fn = Conv2dFunction((SH, SW), (PH, PW), (DH, DW), groups, extra)
    if bias is None:
        return fn(x, weight)
    return fn(x, weight, bias)

