"""conv2d forward and backward on the CPU: Numba im2col/col2im + BLAS GEMM,
or, for small stride-1 layers where it is faster, the direct kernels of
``direct_conv.py``, or, for 3x3 stride-1 layers and only when forced,
Winograd F(4x4, 3x3) of ``winograd.py`` (``choose_algorithm`` decides; 'auto'
never takes Winograd, which lost on every layer measured, see
``winograd.WINOGRAD_FROM``; ``conv_algorithm`` forces a path).

Notation (``W`` is a width, the filters are ``weight``)::

    x: (N, C, H, W)   weight: (OC, C/groups, KH, KW)   bias: (OC,) or None
    y: (N, OC, OH, OW),  OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1,  L = OH*OW
    y[n, o, l] = bias[o] + sum over (c, i, j) in o's group of
                 weight[o, c, i, j] * cols[(c, i, j), n, l]

The batch is processed in chunks of nb images (``_geometry.chunk_size``:
every column-sized buffer of a chunk fits in ``minicnn.get_workspace()``
together). A chunk's columns are laid out as (C*KH*KW, nb*L), so one GEMM per
group covers the whole chunk:

    forward    y_g        = weight_g (OC/g, C/g*KH*KW) @ cols_g (C/g*KH*KW, nb*L)
    backward   gweight_g += gy_g (OC/g, nb*L) @ cols_g^T          (dy/dweight = cols)
               gcols_g    = weight_g^T @ gy_g,  gx = col2im(gcols) (dy/dcols = weight)
               gbias      = sum of gy over n, oh, ow

This is the CPU's own driver beside the shared one of functional/conv.py: its
buffers are reused from call to call (``_scratch``) and its layout changes are
parallel Numba loops, which is what makes it fast on a CPU. Backward recomputes
the columns instead of keeping them from forward, so no layer holds a column
buffer between the passes. A 1x1 unpadded convolution needs no im2col
(``_geometry.is_pointwise``): its columns are the image itself, read with the
stride and laid out as (C, nb*L), which ``_images_to_rows`` does (and
``_rows_to_images`` undoes in place of col2im).
"""
import contextlib

import numpy
from numba import njit, prange

from minicnn.backend import register_kernel
from minicnn.functional._geometry import chunk_size, conv_output_hw, is_pointwise
from minicnn.functional._winograd import winograd_applies
from minicnn.settings import settings

from ._scratch import scratch
from ._threads import use_threads_for
from .direct_conv import (
    direct_conv2d_backward,
    direct_conv2d_forward,
    direct_conv_applies,
    direct_conv_pays,
)
from .elementwise import relu_inplace
from .im2col import col2im_into, im2col_into
from .winograd import winograd_conv2d_backward, winograd_conv2d_forward, winograd_pays

__all__ = ["conv2d_forward", "conv2d_relu_forward", "conv2d_backward", "conv_algorithm",
           "choose_algorithm", "ALGORITHMS"]


@njit(cache=True, parallel=True)
def _rows_to_images(rows3, bias, y, n0, relu):
    """y[n0 + n, o, oh, ow] = rows3[o, n, oh*OW + ow] + bias[o], or its max with 0
    when ``relu`` (conv2d_relu_forward's activation, applied in this write).

    rows3: (OC, nb, OH*OW); y: (N, OC, OH, OW), any strides (a strided view of
    gx when folding a strided 1x1 convolution); bias: (OC,).
    """
    OC, nb = rows3.shape[0], rows3.shape[1]
    OH, OW = y.shape[2], y.shape[3]
    for p in prange(nb * OC):
        n = p // OC
        o = p % OC
        for oh in range(OH):
            for ow in range(OW):
                v = rows3[o, n, oh * OW + ow] + bias[o]
                y[n0 + n, o, oh, ow] = v if not relu or not (v <= 0) else 0


@njit(cache=True, parallel=True)
def _images_to_rows(x, n0, rows3):
    """rows3[c, n, oh*OW + ow] = x[n0 + n, c, oh, ow].

    x: (N, C, OH, OW), any strides (x[:, :, ::SH, ::SW] for a strided 1x1
    convolution, or gy); rows3: (C, nb, OH*OW).
    """
    C, nb = rows3.shape[0], rows3.shape[1]
    OH, OW = x.shape[2], x.shape[3]
    for p in prange(nb * C):
        n = p // C
        c = p % C
        for oh in range(OH):
            for ow in range(OW):
                rows3[c, n, oh * OW + ow] = x[n0 + n, c, oh, ow]


def _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols3):
    """The columns of images x[n0 : n0+nb] into cols3 (C*KH*KW, nb, L)."""
    if is_pointwise(KH, KW, PH, PW):
        _images_to_rows(x[:, :, ::SH, ::SW], n0, cols3)  # the strided grid is the columns
    else:
        im2col_into(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols3)


def _fold(gcols3, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0):
    """gx[n0 : n0+nb] = col2im(gcols3), the adjoint of ``_columns``."""
    if is_pointwise(KH, KW, PH, PW):
        if SH != 1 or SW != 1:
            gx[n0:n0 + gcols3.shape[1]] = 0  # pixels off the strided grid were never read
        zeros = numpy.zeros(gx.shape[1], dtype=gx.dtype)
        _rows_to_images(gcols3, zeros, gx[:, :, ::SH, ::SW], n0, False)
    else:
        col2im_into(gcols3, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0)


ALGORITHMS = ("auto", "direct", "im2col", "winograd")


@contextlib.contextmanager
def conv_algorithm(name: str):
    """Force how the numba conv2d computes, inside a ``with`` block.

    ``'auto'`` (the default) takes the direct kernels where they apply and pay
    (``direct_conv.direct_conv_pays``), else Winograd where it applies and pays
    (``winograd.winograd_pays``), else im2col + GEMM; ``'im2col'`` always
    uses im2col; ``'direct'`` uses the direct kernels wherever they apply
    (stride 1, one group, padding within the kernel's reach, not 1x1) and
    im2col elsewhere; ``'winograd'`` uses Winograd F(4x4, 3x3) wherever it
    applies (3x3, stride 1, dilation 1, one group, padding 0..2) and im2col
    elsewhere. For tests and benchmarks that compare the paths.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"conv_algorithm: expected one of {ALGORITHMS}, got {name!r}")
    before = settings.conv_algorithm
    settings.conv_algorithm = name
    try:
        yield
    finally:
        settings.conv_algorithm = before


def choose_algorithm(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups) -> str:
    """The path the numba conv2d takes for this layer under the current
    ``conv_algorithm`` setting: ``'direct'``, ``'winograd'`` or ``'im2col'``
    (a 1x1 layer's im2col is the image itself, see ``_columns``). Forward and
    backward both ask this, and ``minicnn.profile`` reports it."""
    name = settings.conv_algorithm
    if name == "im2col":
        return "im2col"
    if name == "direct":
        applies = direct_conv_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups)
        return "direct" if applies else "im2col"
    if name == "winograd":
        applies = winograd_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups)
        return "winograd" if applies else "im2col"
    if direct_conv_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups):
        return "direct"
    if winograd_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups):
        return "winograd"
    return "im2col"


@register_kernel("numba", "conv2d_forward")
def conv2d_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """x (N, C, H, W), weight (OC, C/groups, KH, KW), bias (OC,) or None -> y (N, OC, OH, OW).

    A chunk holds one column-sized buffer (the columns), so chunk_size's
    buffers=1.
    """
    return _conv2d_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups, False)


@register_kernel("numba", "conv2d_relu_forward")
def conv2d_relu_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """conv2d_forward's arguments -> max(conv2d(x), 0) (N, OC, OH, OW): the im2col
    path applies the ReLU in its output write, the others in one pass over y."""
    return _conv2d_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups, True)


def _conv2d_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups, relu):
    x = numpy.ascontiguousarray(x)
    weight = numpy.ascontiguousarray(weight)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    L = OH * OW
    if bias is None:
        bias = numpy.zeros(OC, dtype=x.dtype)
    algorithm = choose_algorithm(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups)
    if algorithm != "im2col":  # these paths write y whole; the ReLU is one more pass
        if algorithm == "direct":
            y = direct_conv2d_forward(x, weight, bias, PH, PW, DH, DW)
        else:
            y = winograd_conv2d_forward(x, weight, bias, PH, PW)
        return relu_inplace(y) if relu else y
    OCg = OC // groups
    K = Cg * KH * KW  # rows of one group's columns
    weight2 = weight.reshape(OC, K)  # (OC, C/g, KH, KW) -> (OC, C/g*KH*KW)
    nb = chunk_size(N, C * KH * KW * L * x.itemsize, buffers=1)
    cols_buf = scratch("cols", C * KH * KW * nb * L, x.dtype)
    out_buf = scratch("rows", OC * nb * L, x.dtype)
    y = numpy.empty((N, OC, OH, OW), dtype=x.dtype)
    use_threads_for(C * KH * KW * nb * L)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = cols_buf[:C * KH * KW * m * L].reshape(C * KH * KW, m * L)
        out = out_buf[:OC * m * L].reshape(OC, m * L)
        # (C*KH*KW, m*L) viewed as (C*KH*KW, m, L) for the kernel
        _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols.reshape(C * KH * KW, m, L))
        for g in range(groups):
            numpy.matmul(weight2[g * OCg:(g + 1) * OCg], cols[g * K:(g + 1) * K],
                         out=out[g * OCg:(g + 1) * OCg])
        _rows_to_images(out.reshape(OC, m, L), bias, y, n0, relu)  # (OC, m*L) -> (OC, m, L)
    return y


@register_kernel("numba", "conv2d_backward")
def conv2d_backward(gy, x, weight, SH, SW, PH, PW, DH, DW, groups,
                    need_gx, need_gweight, need_gbias):
    """gy (N, OC, OH, OW) -> (gx (N, C, H, W), gweight like weight, gbias (OC,)).

    None where not needed. A chunk holds the columns (for gweight) and their
    gradient (for gx): chunk_size's buffers = need_gweight + need_gx.
    """
    gy = numpy.ascontiguousarray(gy)
    x = numpy.ascontiguousarray(x)
    weight = numpy.ascontiguousarray(weight)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    OH, OW = gy.shape[2], gy.shape[3]
    L = OH * OW
    gbias = gy.sum(axis=(0, 2, 3)) if need_gbias else None
    gx = gweight = None
    if not (need_gx or need_gweight):
        return gx, gweight, gbias
    algorithm = choose_algorithm(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups)
    if algorithm == "direct":
        gx, gweight = direct_conv2d_backward(gy, x, weight, PH, PW, DH, DW, need_gx,
                                             need_gweight)
        return gx, gweight, gbias
    if algorithm == "winograd":
        gx, gweight = winograd_conv2d_backward(gy, x, weight, PH, PW, need_gx, need_gweight)
        return gx, gweight, gbias

    OCg = OC // groups
    K = Cg * KH * KW
    weight2 = weight.reshape(OC, K)  # (OC, C/g, KH, KW) -> (OC, C/g*KH*KW)
    CKK = C * KH * KW
    nb = chunk_size(N, CKK * L * x.itemsize, buffers=int(need_gweight) + int(need_gx))
    gy_buf = scratch("rows", OC * nb * L, x.dtype)
    cols_buf = scratch("cols", CKK * nb * L, x.dtype) if need_gweight else None
    gcols_buf = scratch("gcols", CKK * nb * L, x.dtype) if need_gx else None
    gweight2 = numpy.zeros((OC, K), dtype=x.dtype) if need_gweight else None
    gx = numpy.empty((N, C, H, W), dtype=x.dtype) if need_gx else None
    use_threads_for(CKK * nb * L)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        gyr = gy_buf[:OC * m * L].reshape(OC, m * L)
        _images_to_rows(gy, n0, gyr.reshape(OC, m, L))  # (N, OC, OH, OW) -> (OC, m, L)
        if need_gweight:
            cols = cols_buf[:CKK * m * L].reshape(CKK, m * L)
            _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols.reshape(CKK, m, L))
            for g in range(groups):
                o, k = slice(g * OCg, (g + 1) * OCg), slice(g * K, (g + 1) * K)
                # gweight_g += gy_g @ cols_g^T. Both factors are long (m*L) and
                # thin; OpenBLAS is up to 3x faster with the thicker one on the
                # left, so for K > OC/g it computes (cols_g @ gy_g^T)^T instead
                if OCg >= K:
                    gweight2[o] += gyr[o] @ cols[k].T
                else:
                    gweight2[o] += (cols[k] @ gyr[o].T).T
        if need_gx:
            gcols = gcols_buf[:CKK * m * L].reshape(CKK, m * L)
            for g in range(groups):
                o, k = slice(g * OCg, (g + 1) * OCg), slice(g * K, (g + 1) * K)
                numpy.matmul(weight2[o].T, gyr[o], out=gcols[k])
            _fold(gcols.reshape(CKK, m, L), KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0)
    if need_gweight:
        gweight = gweight2.reshape(weight.shape)  # (OC, C/g*KH*KW) -> (OC, C/g, KH, KW)
    return gx, gweight, gbias
