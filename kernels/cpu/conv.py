"""conv2d forward and backward on the CPU: Numba im2col/col2im + BLAS GEMM,
or, for small stride-1 layers where it is faster, the direct kernels of
``direct_conv.py`` (``conv_algorithm`` forces one or the other).

Notation::

    x: (N, C, H, W)   W: (OC, C/groups, KH, KW)   b: (OC,) or None
    y: (N, OC, OH, OW),  OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1,  L = OH*OW
    y[n, o, l] = b[o] + sum over (c, i, j) in o's group of W[o, c, i, j] * cols[(c, i, j), n, l]

The batch is processed in chunks of nb images whose columns fit in the
workspace (``minicnn.get_workspace()``). A chunk's columns are laid out as
(C*KH*KW, nb*L), so one GEMM per group covers the whole chunk:

    forward    y_g   = W_g (OC/g, C/g*KH*KW) @ cols_g (C/g*KH*KW, nb*L)
    backward   gW_g += gy_g (OC/g, nb*L) @ cols_g^T          (dy/dW = cols)
               gcols_g = W_g^T @ gy_g,  gx = col2im(gcols)    (dy/dcols = W)
               gb    = sum of gy over n, oh, ow

Backward recomputes the columns instead of keeping them from forward, so no
layer holds a column buffer between the passes; the buffers themselves are
reused from call to call (``_scratch``). A 1x1, stride-1, unpadded
convolution needs no im2col: its columns are the image itself, only laid out
as (C, nb*L), which ``_images_to_rows`` does (and ``_rows_to_images`` undoes
in place of col2im).
"""
import contextlib

import numpy
from numba import njit, prange

from minicnn.backend import get_workspace, register_kernel

from ._scratch import scratch
from ._threads import use_threads_for
from .direct_conv import (
    direct_conv2d_backward,
    direct_conv2d_forward,
    direct_conv_applies,
    direct_conv_pays,
)
from .im2col import col2im_into, conv_out_size, im2col_into

__all__ = ["conv2d_forward", "conv2d_backward", "conv_algorithm", "ALGORITHMS"]


@njit(cache=True, parallel=True)
def _rows_to_images(out3, b, y, n0):
    """y[n0 + n, o, l] = out3[o, n, l] + b[o].   out3: (OC, nb, L); y: (N, OC, L); b: (OC,)."""
    OC, nb, L = out3.shape
    for p in prange(nb * OC):
        n = p // OC
        o = p % OC
        for l in range(L):
            y[n0 + n, o, l] = out3[o, n, l] + b[o]


@njit(cache=True, parallel=True)
def _images_to_rows(gy, n0, gy3):
    """gy3[o, n, l] = gy[n0 + n, o, l].   gy: (N, OC, L); gy3: (OC, nb, L)."""
    OC, nb, L = gy3.shape
    for p in prange(nb * OC):
        n = p // OC
        o = p % OC
        for l in range(L):
            gy3[o, n, l] = gy[n0 + n, o, l]


def _is_pointwise(KH, KW, SH, SW, PH, PW):
    """A 1x1, stride-1, unpadded conv: cols[c, n, l] = x[n, c, l], no patches to gather."""
    return KH == 1 and KW == 1 and SH == 1 and SW == 1 and PH == 0 and PW == 0


def _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols3):
    """The columns of images x[n0 : n0+nb] into cols3 (C*KH*KW, nb, L)."""
    if _is_pointwise(KH, KW, SH, SW, PH, PW):
        N, C = x.shape[0], x.shape[1]
        _images_to_rows(x.reshape(N, C, OH * OW), n0, cols3)  # (N, C, H, W) -> (N, C, L)
    else:
        im2col_into(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols3)


def _fold(gcols3, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0):
    """gx[n0 : n0+nb] = col2im(gcols3), the adjoint of ``_columns``."""
    if _is_pointwise(KH, KW, SH, SW, PH, PW):
        N, C = gx.shape[0], gx.shape[1]
        zeros = numpy.zeros(C, dtype=gx.dtype)
        _rows_to_images(gcols3, zeros, gx.reshape(N, C, OH * OW), n0)  # view of gx
    else:
        col2im_into(gcols3, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0)


ALGORITHMS = ("auto", "direct", "im2col")
_algorithm = {"name": "auto"}


@contextlib.contextmanager
def conv_algorithm(name: str):
    """Force how the numba conv2d computes, inside a ``with`` block.

    ``'auto'`` (the default) takes the direct kernels where they apply and pay
    (``direct_conv.direct_conv_pays``), else im2col + GEMM; ``'im2col'`` always
    uses im2col; ``'direct'`` uses the direct kernels wherever they apply
    (stride 1, one group, padding within the kernel's reach, not 1x1) and
    im2col elsewhere. For tests and benchmarks that compare the two.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"conv_algorithm: expected one of {ALGORITHMS}, got {name!r}")
    before = _algorithm["name"]
    _algorithm["name"] = name
    try:
        yield
    finally:
        _algorithm["name"] = before


def _use_direct(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups) -> bool:
    name = _algorithm["name"]
    if name == "im2col":
        return False
    if name == "direct":
        return direct_conv_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups)
    return direct_conv_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups)


def _chunk(N, per_image_bytes):
    """Images per chunk so that the column buffer stays under the workspace."""
    return int(max(1, min(N, get_workspace() // max(1, per_image_bytes))))


@register_kernel("numba", "conv2d_forward")
def conv2d_forward(x, W, b, SH, SW, PH, PW, DH, DW, groups):
    """x (N, C, H, W), W (OC, C/groups, KH, KW), b (OC,) or None -> y (N, OC, OH, OW)."""
    x = numpy.ascontiguousarray(x)
    W = numpy.ascontiguousarray(W)
    N, C, H, XW = x.shape
    OC, Cg, KH, KW = W.shape
    OH = conv_out_size(H, KH, SH, PH, DH)
    OW = conv_out_size(XW, KW, SW, PW, DW)
    L = OH * OW
    if b is None:
        b = numpy.zeros(OC, dtype=x.dtype)
    if _use_direct(C, OC, XW, KH, KW, SH, SW, PH, PW, DH, DW, groups):
        return direct_conv2d_forward(x, W, b, PH, PW, DH, DW)
    OCg = OC // groups
    K = Cg * KH * KW  # rows of one group's columns
    W2 = W.reshape(OC, K)  # (OC, C/g, KH, KW) -> (OC, C/g*KH*KW)
    nb = _chunk(N, C * KH * KW * L * x.itemsize)
    cols_buf = scratch("cols", C * KH * KW * nb * L, x.dtype)
    out_buf = scratch("rows", OC * nb * L, x.dtype)
    y = numpy.empty((N, OC, L), dtype=x.dtype)
    use_threads_for(C * KH * KW * nb * L)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = cols_buf[:C * KH * KW * m * L].reshape(C * KH * KW, m * L)
        out = out_buf[:OC * m * L].reshape(OC, m * L)
        # (C*KH*KW, m*L) viewed as (C*KH*KW, m, L) for the kernel
        _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols.reshape(C * KH * KW, m, L))
        for g in range(groups):
            numpy.matmul(W2[g * OCg:(g + 1) * OCg], cols[g * K:(g + 1) * K],
                         out=out[g * OCg:(g + 1) * OCg])
        _rows_to_images(out.reshape(OC, m, L), b, y, n0)  # (OC, m*L) -> (OC, m, L)
    return y.reshape(N, OC, OH, OW)  # (N, OC, L) -> (N, OC, OH, OW)


@register_kernel("numba", "conv2d_backward")
def conv2d_backward(gy, x, W, SH, SW, PH, PW, DH, DW, groups, need_gx, need_gW, need_gb):
    """gy (N, OC, OH, OW) -> (gx (N, C, H, W), gW like W, gb (OC,)); None where not needed."""
    gy = numpy.ascontiguousarray(gy)
    x = numpy.ascontiguousarray(x)
    W = numpy.ascontiguousarray(W)
    N, C, H, XW = x.shape
    OC, Cg, KH, KW = W.shape
    OH, OW = gy.shape[2], gy.shape[3]
    L = OH * OW
    gy3 = gy.reshape(N, OC, L)  # (N, OC, OH, OW) -> (N, OC, L)
    gb = gy3.sum(axis=(0, 2)) if need_gb else None
    gx = gW = None
    if not (need_gx or need_gW):
        return gx, gW, gb
    if _use_direct(C, OC, XW, KH, KW, SH, SW, PH, PW, DH, DW, groups):
        gx, gW = direct_conv2d_backward(gy, x, W, PH, PW, DH, DW, need_gx, need_gW)
        return gx, gW, gb

    OCg = OC // groups
    K = Cg * KH * KW
    W2 = W.reshape(OC, K)  # (OC, C/g, KH, KW) -> (OC, C/g*KH*KW)
    CKK = C * KH * KW
    # columns and their gradient both live during a chunk: budget both
    nb = _chunk(N, (int(need_gW) + int(need_gx)) * CKK * L * x.itemsize)
    gy_buf = scratch("rows", OC * nb * L, x.dtype)
    cols_buf = scratch("cols", CKK * nb * L, x.dtype) if need_gW else None
    gcols_buf = scratch("gcols", CKK * nb * L, x.dtype) if need_gx else None
    gW2 = numpy.zeros((OC, K), dtype=x.dtype) if need_gW else None
    gx = numpy.empty((N, C, H, XW), dtype=x.dtype) if need_gx else None
    use_threads_for(CKK * nb * L)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        gyr = gy_buf[:OC * m * L].reshape(OC, m * L)
        _images_to_rows(gy3, n0, gyr.reshape(OC, m, L))  # (N, OC, L) -> (OC, m, L)
        if need_gW:
            cols = cols_buf[:CKK * m * L].reshape(CKK, m * L)
            _columns(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols.reshape(CKK, m, L))
            for g in range(groups):
                o, k = slice(g * OCg, (g + 1) * OCg), slice(g * K, (g + 1) * K)
                # gW_g += gy_g @ cols_g^T. Both factors are long (m*L) and thin;
                # OpenBLAS is up to 3x faster with the thicker one on the left,
                # so for K > OC/g it computes (cols_g @ gy_g^T)^T instead
                if OCg >= K:
                    gW2[o] += gyr[o] @ cols[k].T
                else:
                    gW2[o] += (cols[k] @ gyr[o].T).T
        if need_gx:
            gcols = gcols_buf[:CKK * m * L].reshape(CKK, m * L)
            for g in range(groups):
                o, k = slice(g * OCg, (g + 1) * OCg), slice(g * K, (g + 1) * K)
                numpy.matmul(W2[o].T, gyr[o], out=gcols[k])
            _fold(gcols.reshape(CKK, m, L), KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0)
    if need_gW:
        gW = gW2.reshape(W.shape)  # (OC, C/g*KH*KW) -> (OC, C/g, KH, KW)
    return gx, gW, gb
