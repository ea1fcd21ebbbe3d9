"""Convolution as im2col + matrix multiplication.

Notation (NCHW throughout; ``W`` is always a width, never the filters):

    x:      (N, C, H, W)              a batch of N images with C channels
    weight: (OC, C/groups, KH, KW)    OC filters of size KH x KW
    bias:   (OC,)
    y:      (N, OC, OH, OW)           OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
                                      OW = (W + 2*PW - DW*(KW-1) - 1) // SW + 1

(the output size, the padding rules and the chunking live in ``_geometry.py``).

im2col ("image to columns") copies every KH x KW patch the filter visits into
one column of a matrix, so that the whole convolution becomes one matrix
product (a GEMM), the operation BLAS and GPUs run fastest:

    cols = im2col(x)                       (N, C*KH*KW, OH*OW)   row c*KH*KW + i*KW + j
    y    = weight.reshape(OC, C*KH*KW) @ cols                    -> (N, OC, OH*OW)

col2im is its adjoint: it adds every column entry back onto the pixel it was
copied from (pixels that several patches share receive several additions).
It is the backward of im2col, and im2col is the backward of col2im.

The hot loops go through ``minicnn.backend.kernel(name, reference)``: the plain
NumPy/CuPy functions here are the references (``im2col_array``,
``col2im_array``, ``conv2d_forward_reference``, ``conv2d_backward_reference``)
and a faster backend may register drop-in kernels under the same names. The
two conv2d references are also the GEMM driver of the GPU: written against
``xp``, they run on CuPy arrays as they are, with the CUDA im2col/col2im
kernels and cuBLAS underneath.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module, kernel
from minicnn.functional._geometry import (
    as_int,
    check_image,
    check_kernel_fits,
    chunk_size,
    contiguous,
    conv_output_hw,
    conv_output_size,
    is_pointwise,
    padding_pair,
    pair,
    same_padding,
    tap_slice,
)
from minicnn.functional.shape import pad

__all__ = [
    "im2col", "col2im", "conv2d", "prepare_conv2d", "Im2col", "Col2im", "Conv2dFunction",
    "im2col_array", "col2im_array", "conv2d_forward_reference",
    "conv2d_backward_reference", "conv_output_size", "check_conv2d_args",
]


# ------------------------------------------------------- raw-array references
def im2col_array(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """Unfold every KH x KW patch of x into a column (the reference kernel).

    x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), row index c*KH*KW + i*KW + j.

    Instead of looping over the OH*OW output pixels we loop over the KH*KW
    kernel offsets (i, j): for a fixed offset, the pixels the filter tap (i, j)
    sees at every output position form a strided slice of the padded image,
    img[:, :, i*DH : i*DH + SH*(OH-1) + 1 : SH, j*DW : j*DW + SW*(OW-1) + 1 : SW].
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    img = x
    if PH or PW:
        img = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # zeros around
    cols = xp.empty((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for i in range(KH):
        rows = tap_slice(i * DH, OH, SH)
        for j in range(KW):
            cols[:, :, i, j, :, :] = img[:, :, rows, tap_slice(j * DW, OW, SW)]
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
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    # (N, C*KH*KW, OH*OW) -> (N, C, KH, KW, OH, OW)
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    img = xp.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=cols.dtype)
    for i in range(KH):
        rows = tap_slice(i * DH, OH, SH)
        for j in range(KW):
            img[:, :, rows, tap_slice(j * DW, OW, SW)] += cols[:, :, i, j, :, :]
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
        return kernel("im2col", im2col_array, like=x)(contiguous(x), *self.geometry)

    def backward(self, gy):
        # y = P x for a 0/1 copy matrix P, so gx = P^T gy: col2im adds the
        # gradient of each copy back onto the pixel it was copied from.
        return kernel("col2im", col2im_array, like=gy)(contiguous(gy), self.x_shape,
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
        return kernel("col2im", col2im_array, like=cols)(contiguous(cols), x_shape,
                                                         *self.geometry)

    def backward(self, gy):
        # x = P^T cols, so gcols = P gx: every column entry reads the gradient
        # of the pixel it was added to.
        return kernel("im2col", im2col_array, like=gy)(contiguous(gy), *self.geometry)


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
    check_image("im2col", x)
    KH, KW = pair("im2col", "kernel_size", kernel_size, 1)
    DH, DW = pair("im2col", "dilation", dilation, 1)
    PH, PW = padding_pair("im2col", padding)
    SH, SW = pair("im2col", "stride", stride, 1)
    check_kernel_fits("im2col", x.shape[2:], KH, KW, PH, PW, DH, DW)
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
    H, W = pair("col2im", "output_size", output_size, 1)
    KH, KW = pair("col2im", "kernel_size", kernel_size, 1)
    DH, DW = pair("col2im", "dilation", dilation, 1)
    PH, PW = padding_pair("col2im", padding)
    SH, SW = pair("col2im", "stride", stride, 1)
    if cols.shape[1] % (KH * KW) != 0:
        raise ValueError(
            f"col2im: dimension 1 of the columns ({cols.shape[1]}) must be divisible by "
            f"KH*KW = {KH * KW} (kernel_size ({KH}, {KW})); columns shape {cols.shape}")
    check_kernel_fits("col2im", (H, W), KH, KW, PH, PW, DH, DW)
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    if cols.shape[2] != OH * OW:
        raise ValueError(
            f"col2im: expected {OH * OW} columns (OH*OW = {OH}*{OW} for output_size "
            f"({H}, {W})), got {cols.shape[2]} (columns shape {cols.shape})")
    return Col2im((H, W), KH, KW, SH, SW, PH, PW, DH, DW)(cols)


# ------------------------------------------------------------------- conv2d
def _columns(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """The columns of a chunk of images: x (B, C, H, W) -> (B, C*KH*KW, OH*OW)."""
    if is_pointwise(KH, KW, PH, PW):
        B, C = x.shape[:2]
        # every column entry is one pixel of the strided grid: the columns are x
        # itself (a view at stride 1; a strided 1x1, ResNet's downsampling
        # shortcut, copies every SH-th row and SW-th column and nothing else)
        return x[:, :, ::SH, ::SW].reshape(B, C, -1)  # (B, C, OH, OW) -> (B, C*1*1, OH*OW)
    return kernel("im2col", im2col_array, like=x)(x, KH, KW, SH, SW, PH, PW, DH, DW)


def _fold(gcols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW):
    """The adjoint of ``_columns``: gcols (B, C*KH*KW, OH*OW) -> gx (B, C, H, W)."""
    if not is_pointwise(KH, KW, PH, PW):
        return kernel("col2im", col2im_array, like=gcols)(gcols, x_shape,
                                                          KH, KW, SH, SW, PH, PW, DH, DW)
    B, C, H, W = x_shape
    if SH == 1 and SW == 1:
        return gcols.reshape(B, C, H, W)  # (B, C, H*W) -> (B, C, H, W): the columns are x
    xp = get_array_module(gcols)
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    gx = xp.zeros(x_shape, dtype=gcols.dtype)  # pixels off the strided grid were never read
    gx[:, :, ::SH, ::SW] = gcols.reshape(B, C, OH, OW)  # (B, C, OH*OW) -> (B, C, OH, OW)
    return gx


def conv2d_forward_reference(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """y = weight * x + bias by im2col and one GEMM per image and group.

    x: (N, C, H, W), weight: (OC, C/G, KH, KW), bias: (OC,) or None
    -> y: (N, OC, OH, OW), with G = groups, K = C/G*KH*KW and L = OH*OW.

    The columns of image n, group g (input channels g*C/G ..., output
    channels g*OC/G ...) are rows g*K ... of its im2col, so

        y[n, g] = weight_g @ cols[n, g]      (OC/G, K) @ (K, L)

    which ``xp.matmul`` runs as one batched GEMM over all n and g (cuBLAS on
    CuPy data), writing straight into y's layout. This is the reference of
    the numpy backend and the driver of the cuda backend alike.

    The batch runs in chunks so that one chunk's columns, the only
    column-sized buffer alive at a time, fit in ``minicnn.get_workspace()``
    (``chunk_size``, buffers=1).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    G, L = groups, OH * OW
    K = C // G * KH * KW
    weight_g = weight.reshape(G, OC // G, K)  # (OC, C/G, KH, KW) -> (G, OC/G, K)
    y = xp.empty((N, OC, L), dtype=x.dtype)
    B = chunk_size(N, C * KH * KW * L * x.dtype.itemsize, buffers=1)
    for n0 in range(0, N, B):
        Bc = min(B, N - n0)
        # (Bc, C*KH*KW, L) -> (Bc, G, K, L): group g's rows are contiguous
        cols = _columns(x[n0:n0 + Bc], KH, KW, SH, SW, PH, PW, DH, DW).reshape(Bc, G, K, L)
        # (G, OC/G, K) @ (Bc, G, K, L) -> (Bc, G, OC/G, L), a view of y's (Bc, OC, L)
        xp.matmul(weight_g, cols, out=y[n0:n0 + Bc].reshape(Bc, G, OC // G, L))
    if bias is not None:
        y += bias.reshape(1, OC, 1)  # (OC,) -> (1, OC, 1): broadcast over N and L
    return y.reshape(N, OC, OH, OW)  # (N, OC, L) -> (N, OC, OH, OW)


def conv2d_backward_reference(gy, x, weight, SH, SW, PH, PW, DH, DW, groups,
                              need_gx, need_gweight, need_gbias):
    """Gradients of the convolution (the reference kernel, and the cuda driver).

    gy: (N, OC, OH, OW) -> (gx (N, C, H, W), gweight like weight, gbias (OC,)),
    None where the matching ``need_*`` is False. Shapes as in the forward.

    Per group, with Y = weight_g @ cols + bias (the forward as a matrix product):
        gweight_g = sum_n gY[n] @ cols[n]^T     d/dweight_ab of sum_k gY_ak cols_bk
        gcols[n]  = weight_g^T @ gY[n]          cols copies x, so x collects the
        gx        = col2im(gcols)               gradient of every copy
        gbias     = sum of gy over N, OH, OW    bias is broadcast to every position
    gweight sums over images and positions, so it lays a chunk's columns out as
    (G, K, Bc*L) and runs one long GEMM per group.

    The columns are recomputed chunk by chunk from x instead of being kept
    from the forward pass. A chunk holds the columns and their (G, K, Bc*L)
    rearrangement when gweight is needed, and the column gradient when gx is:
    up to three column-sized buffers, which together fit in the workspace
    (``chunk_size``).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    OH, OW = gy.shape[2:]
    G, L = groups, OH * OW
    K = C // G * KH * KW
    weight_g = weight.reshape(G, OC // G, K)  # (OC, C/G, KH, KW) -> (G, OC/G, K)
    gx = xp.empty(x.shape, dtype=x.dtype) if need_gx else None
    gweight_g = xp.zeros((G, OC // G, K), dtype=weight.dtype) if need_gweight else None
    gbias = gy.sum(axis=(0, 2, 3)) if need_gbias else None
    if need_gx or need_gweight:
        buffers = 2 * int(need_gweight) + int(need_gx)
        B = chunk_size(N, C * KH * KW * L * x.dtype.itemsize, buffers)
        for n0 in range(0, N, B):
            Bc = min(B, N - n0)
            gy_g = gy[n0:n0 + Bc].reshape(Bc, G, OC // G, L)  # (Bc, OC, OH, OW) -> (Bc, G, OC/G, L)
            if need_gweight:
                cols = _columns(x[n0:n0 + Bc], KH, KW, SH, SW, PH, PW, DH, DW)
                # (Bc, C*KH*KW, L) -> (Bc, G, K, L) -> (G, K, Bc, L) -> (G, K, Bc*L)
                cols = cols.reshape(Bc, G, K, L).transpose(1, 2, 0, 3).reshape(G, K, Bc * L)
                # (Bc, G, OC/G, L) -> (G, OC/G, Bc, L) -> (G, OC/G, Bc*L)
                gy_t = gy_g.transpose(1, 2, 0, 3).reshape(G, OC // G, Bc * L)
                # (G, OC/G, Bc*L) @ (G, Bc*L, K) -> (G, OC/G, K): the sum over n and L
                gweight_g += xp.matmul(gy_t, cols.transpose(0, 2, 1))
            if need_gx:
                # (G, K, OC/G) @ (Bc, G, OC/G, L) -> (Bc, G, K, L) -> (Bc, C*KH*KW, L)
                gcols = xp.matmul(weight_g.transpose(0, 2, 1), gy_g)
                gcols = gcols.reshape(Bc, C * KH * KW, L)
                gx[n0:n0 + Bc] = _fold(gcols, (Bc, C, H, W), KH, KW, SH, SW, PH, PW, DH, DW)
    # (G, OC/G, K) -> (OC, C/G, KH, KW)
    gweight = gweight_g.reshape(weight.shape) if need_gweight else None
    return gx, gweight, gbias


class Conv2dFunction(Function):
    """2-D convolution (cross-correlation, as in every DL framework).

    Where a call goes, top to bottom:

        nn.Conv2d.forward            checks the input against the layer
        F.conv2d                     checks the arguments; padding='same' with an
                                     even kernel becomes an explicit F.pad
        Conv2dFunction.forward       saves x and weight, asks the kernel table:
        kernel("conv2d_forward", conv2d_forward_reference, like=x)
          numba backend              kernels/cpu/conv.py: direct kernels
                                     (direct_conv.py) or Numba im2col + BLAS
          numpy backend, CuPy data   conv2d_forward_reference above, whose
                                     kernel("im2col") is im2col_array or, on
                                     CuPy data, kernels/cuda/conv.py's kernel

    and backward the same with "conv2d_backward" (and col2im). Nothing is kept
    between the passes but x and weight: backward recomputes the columns.
    """

    def __init__(self, stride, padding, dilation, groups):
        # (SH, SW, PH, PW, DH, DW, groups): the geometry arguments of the contract
        self.geometry = (*stride, *padding, *dilation, groups)

    def forward(self, x, weight, bias=None):
        self.x, self.weight = contiguous(x), contiguous(weight)
        self.has_bias = bias is not None
        bias = None if bias is None else contiguous(bias)
        return kernel("conv2d_forward", conv2d_forward_reference, like=x)(
            self.x, self.weight, bias, *self.geometry)

    def backward(self, gy):
        need_gx, need_gweight = self.needs_grad[0], self.needs_grad[1]
        need_gbias = self.has_bias and self.needs_grad[2]
        gx, gweight, gbias = kernel("conv2d_backward", conv2d_backward_reference, like=gy)(
            contiguous(gy), self.x, self.weight, *self.geometry,
            need_gx, need_gweight, need_gbias)
        if self.has_bias:
            return gx, gweight, gbias
        return gx, gweight


def check_conv2d_args(op, kernel_size, stride, padding, dilation, groups, in_channels,
                      out_channels):
    """The arguments F.conv2d and nn.Conv2d share, checked before any maths.

    Args:
        op: the name errors start with ("conv2d", "Conv2d").
        kernel_size, stride, dilation: int or pair; padding: int, pair, 'same'
            or 'valid'; groups: int.
        in_channels, out_channels: (name, count) of the channels groups must
            divide, e.g. ("in_channels", 3), named as the caller's user knows them.
    Returns:
        (KH, KW), (SH, SW), padding ((PH, PW), 'same' or 'valid'), (DH, DW), groups.
    Raises:
        TypeError/ValueError, one line naming the argument, the value and the rule.
    """
    kernel_size = pair(op, "kernel_size", kernel_size, 1)
    stride = pair(op, "stride", stride, 1)
    dilation = pair(op, "dilation", dilation, 1)
    groups = as_int(op, "groups", groups, 1)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                             f"got {padding!r}")
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride}); pass an explicit padding, or stride=1")
    else:
        padding = padding_pair(op, padding)
    for name, count in (in_channels, out_channels):
        if count % groups != 0:
            raise ValueError(f"{op}: {name} ({count}) must be divisible by groups ({groups})")
    return kernel_size, stride, padding, dilation, groups


def prepare_conv2d(op, x, weight, bias, stride, padding, dilation, groups):
    """Check a convolution's operands and arguments before any maths, one line
    per error (F.conv2d's, shared by F.conv2d_naive; nn.Conv2d shares
    ``check_conv2d_args``).

    Returns (x, weight, bias, (SH, SW), (PH, PW), (DH, DW), groups) with the
    operands as Tensors and the padding as a pair: 'valid' is (0, 0), and a
    'same' that needs more padding after than before (an even kernel) is
    applied to x as an explicit ``F.pad``, leaving (0, 0).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_image(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight (OC, C/groups, KH, KW), got shape "
                         f"{weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} does not match weight dtype "
                        f"{weight.dtype}; convert one with .to(dtype)")
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    (KH, KW), stride, padding, dilation, groups = check_conv2d_args(
        op, (KH, KW), stride, padding, dilation, groups, ("input channels", C),
        ("output channels", OC))
    if C != Cg * groups:
        raise ValueError(
            f"{op}: input has {C} channels but weight expects {Cg * groups} "
            f"(weight shape {weight.shape}, groups={groups}, input shape {x.shape})")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (OC,):
            raise ValueError(f"{op}: expected bias of shape ({OC},) for weight shape "
                             f"{weight.shape}, got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} does not match bias dtype "
                            f"{bias.dtype}; convert one with .to(dtype)")
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        (top, bottom), (left, right) = same_padding(KH, dilation[0]), same_padding(KW, dilation[1])
        padding = (top, left)
        if (top, left) != (bottom, right):
            x = pad(x, (left, right, top, bottom))  # zeros; pad lists W's amounts first
            padding = (0, 0)
    check_kernel_fits(op, x.shape[2:], KH, KW, *padding, *dilation)
    return x, weight, bias, stride, padding, dilation, groups


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
            y[n, o] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
                      x_pad[n, g*C/groups + c, oh*SH + i*DH, ow*SW + j*DW]
        with OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 (OW likewise) and g the
        group of output channel o.

    This wrapper only checks and normalises the arguments (``check_conv2d_args``,
    shared with nn.Conv2d) and hands them to ``Conv2dFunction``, whose
    docstring follows the call down to the kernels. padding='same' needs
    D*(K-1) padding in all; when that is odd PyTorch puts the extra row or
    column at the bottom/right, which here is an explicit ``F.pad`` of x
    followed by an unpadded convolution.
    """
    x, weight, bias, stride, padding, dilation, groups = prepare_conv2d(
        "conv2d", x, weight, bias, stride, padding, dilation, groups)
    fn = Conv2dFunction(stride, padding, dilation, groups)
    if bias is None:
        return fn(x, weight)
    return fn(x, weight, bias)
