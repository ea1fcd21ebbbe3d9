"""im2col and col2im as Numba kernels (CPU).

Notation (as in ``minicnn.functional.conv``)::

    x:    (N, C, H, W)
    cols: (N, C*KH*KW, OH*OW), row index c*KH*KW + i*KW + j (torch's unfold)
    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1       (_geometry.conv_output_size)
    cols[n, (c, i, j), oh*OW + ow] = x[n, c, oh*SH - PH + i*DH, ow*SW - PW + j*DW]
                                     (0 where that pixel falls in the padding)

Both kernels work on a *view* ``cols3`` indexed ``[row, n, l]``: the public
``im2col``/``col2im`` pass ``cols.transpose(1, 0, 2)`` of the contract's
(N, C*KH*KW, L) array, while the convolution passes its chunk buffer of shape
(C*KH*KW, nb, L), the layout in which one GEMM covers the whole chunk.

col2im has no atomics: each parallel iteration owns one (n, c) plane of ``gx``
and adds every column entry that came from it in a fixed (i, j) order. No two
iterations write the same pixel, so the result is the same on every run and
every thread count (the CUDA kernel is a gather, one thread per pixel).
"""
import numpy
from numba import njit, prange

from minicnn.backend import register_kernel
from minicnn.functional._geometry import conv_output_hw

from ._threads import use_threads_for

__all__ = ["im2col", "col2im", "im2col_into", "col2im_into"]


@njit(cache=True)
def _ceil_div(a, b):
    """ceil(a / b) for integers, b > 0 (Python floor division rounds down)."""
    return -((-a) // b)


@njit(cache=True, parallel=True)
def im2col_into(x, n0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols3):
    """Unfold images x[n0 : n0+nb] into cols3.

    x: (N, C, H, W); cols3: (C*KH*KW, nb, OH*OW), any strides.
    One parallel iteration per (n, c) plane.
    """
    nb = cols3.shape[1]
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    for p in prange(nb * C):
        n = p // C
        c = p % C
        for i in range(KH):
            for j in range(KW):
                row = (c * KH + i) * KW + j
                # iw = ow*SW - PW + j*DW lies in [0, W) for ow in [ow_lo, ow_hi)
                ow_lo = min(OW, max(0, _ceil_div(PW - j * DW, SW)))
                ow_hi = max(ow_lo, min(OW, _ceil_div(W + PW - j * DW, SW)))
                for oh in range(OH):
                    ih = oh * SH - PH + i * DH
                    base = oh * OW
                    if ih < 0 or ih >= H:
                        for ow in range(OW):
                            cols3[row, n, base + ow] = 0
                        continue
                    for ow in range(ow_lo):
                        cols3[row, n, base + ow] = 0
                    if SW == 1:  # a contiguous run: one vectorised copy
                        iw0 = ow_lo - PW + j * DW
                        cols3[row, n, base + ow_lo:base + ow_hi] = \
                            x[n0 + n, c, ih, iw0:iw0 + ow_hi - ow_lo]
                    else:
                        for ow in range(ow_lo, ow_hi):
                            cols3[row, n, base + ow] = x[n0 + n, c, ih, ow * SW - PW + j * DW]
                    for ow in range(ow_hi, OW):
                        cols3[row, n, base + ow] = 0


@njit(cache=True, parallel=True)
def col2im_into(cols3, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, n0):
    """Fold cols3 back into images gx[n0 : n0+nb], with no atomics.

    cols3: (C*KH*KW, nb, OH*OW), any strides; gx: (N, C, H, W), overwritten.
    gx[n, c, h, w] = sum over (i, j) with h = oh*SH - PH + i*DH and
    w = ow*SW - PW + j*DW of cols3[(c, i, j), n, oh*OW + ow].
    One parallel iteration owns one (n, c) plane: no other iteration writes it,
    and it adds the column entries in (i, j) order, the order of the gather
    "for each pixel, sum its taps", so the result is bit-identical to that
    gather on every run and thread count. Walking each column row contiguously
    makes it about twice as fast as the pixel-by-pixel gather, and with stride
    1 each output row's in-bounds run is one vectorised add, bounds computed
    once per tap as in im2col_into.
    """
    nb = cols3.shape[1]
    C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
    for p in prange(nb * C):
        n = p // C
        c = p % C
        plane = gx[n0 + n, c]               # (H, W), owned by this iteration
        plane[:, :] = 0
        for i in range(KH):
            for j in range(KW):
                src = cols3[(c * KH + i) * KW + j, n]   # (OH*OW,) one column row
                # w = ow*SW - PW + j*DW lies in [0, W) for ow in [ow_lo, ow_hi)
                ow_lo = min(OW, max(0, _ceil_div(PW - j * DW, SW)))
                ow_hi = max(ow_lo, min(OW, _ceil_div(W + PW - j * DW, SW)))
                for oh in range(OH):
                    h = oh * SH - PH + i * DH
                    if h < 0 or h >= H:
                        continue                        # the row came from padding
                    base = oh * OW
                    if SW == 1:  # a contiguous run, which numba vectorises
                        dst = plane[h, ow_lo - PW + j * DW:]
                        run = src[base + ow_lo:base + ow_hi]
                        for q in range(ow_hi - ow_lo):
                            dst[q] += run[q]
                    else:
                        for ow in range(ow_lo, ow_hi):
                            plane[h, ow * SW - PW + j * DW] += src[base + ow]


@register_kernel("numba", "im2col")
def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW), torch's unfold layout."""
    x = numpy.ascontiguousarray(x)
    N, C, H, W = x.shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    cols = numpy.empty((N, C * KH * KW, OH * OW), dtype=x.dtype)
    use_threads_for(cols.size)
    # (N, C*KH*KW, L) -> view (C*KH*KW, N, L), the kernel's [row, n, l] indexing
    im2col_into(x, 0, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, cols.transpose(1, 0, 2))
    return cols


@register_kernel("numba", "col2im")
def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW):
    """cols (N, C*KH*KW, OH*OW) -> x (N, C, H, W), summing overlaps (torch's fold)."""
    N, C, H, W = x_shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    gx = numpy.empty((N, C, H, W), dtype=cols.dtype)
    use_threads_for(cols.size)
    # (N, C*KH*KW, L) -> view (C*KH*KW, N, L)
    col2im_into(cols.transpose(1, 0, 2), KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, gx, 0)
    return gx
