"""Max and average pooling, forward and backward, as Numba kernels (CPU).

Notation::

    x: (N, C, H, W) -> y: (N, C, OH, OW); OH, OW are computed by the op
    (they depend on ceil_mode) and passed in.
    window of y[n, c, oh, ow]: rows oh*SH - PH + [0, KH), cols ow*SW - PW + [0, KW)

Every kernel runs one parallel iteration per (n, c) plane. Backward passes
add into their own plane only, in a fixed order, so they need no atomics and
give the same result on every run.
"""
import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward"]


@njit(cache=True, parallel=True)
def _max_pool_fwd(x, KH, KW, SH, SW, PH, PW, y, argmax):
    """y = max over each window (padding is -inf); argmax = h*W + w of the first max.

    x: (P, H, W) planes; y, argmax: (P, OH, OW).
    """
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        for oh in range(OH):
            h0 = oh * SH - PH
            h_lo, h_hi = max(h0, 0), min(h0 + KH, H)
            for ow in range(OW):
                w0 = ow * SW - PW
                w_lo, w_hi = max(w0, 0), min(w0 + KW, W)
                best = -numpy.inf
                best_idx = h_lo * W + w_lo
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        v = x[p, h, w]
                        # strict '>' keeps the first maximum; NaN always wins (torch)
                        if v > best or v != v:
                            best = v
                            best_idx = h * W + w
                y[p, oh, ow] = best
                argmax[p, oh, ow] = best_idx


@njit(cache=True, parallel=True)
def _max_pool_bwd(gy, argmax, gx):
    """gx[p].flat[argmax[p, oh, ow]] += gy[p, oh, ow].   gy, argmax: (P, OH, OW); gx: (P, H*W)."""
    P, OH, OW = gy.shape
    for p in prange(P):
        gx[p, :] = 0
        for oh in range(OH):
            for ow in range(OW):
                gx[p, argmax[p, oh, ow]] += gy[p, oh, ow]


@njit(cache=True, parallel=True)
def _avg_pool_fwd(x, KH, KW, SH, SW, PH, PW, divisor, y):
    """y = (sum of the window's in-image pixels) / divisor[oh, ow].

    x: (P, H, W); divisor: (OH, OW); y: (P, OH, OW).
    """
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        for oh in range(OH):
            h0 = oh * SH - PH
            h_lo, h_hi = max(h0, 0), min(h0 + KH, H)
            for ow in range(OW):
                w0 = ow * SW - PW
                w_lo, w_hi = max(w0, 0), min(w0 + KW, W)
                s = 0.0
                for h in range(h_lo, h_hi):
                    row = x[p, h, w_lo:w_hi]  # indexing a view from 0 skips the
                    for k in range(w_hi - w_lo):  # negative-index checks
                        s += row[k]
                y[p, oh, ow] = s / divisor[oh, ow]


@njit(cache=True, parallel=True)
def _avg_pool_bwd(gy, KH, KW, SH, SW, PH, PW, divisor, gx):
    """gx[h, w] = sum over the windows containing (h, w) of gy / divisor.

    gy: (P, OH, OW); divisor: (OH, OW); gx: (P, H, W).
    """
    P, OH, OW = gy.shape
    H, W = gx.shape[1], gx.shape[2]
    for p in prange(P):
        gx[p] = 0
        for oh in range(OH):
            h0 = oh * SH - PH
            h_lo, h_hi = max(h0, 0), min(h0 + KH, H)
            for ow in range(OW):
                w0 = ow * SW - PW
                w_lo, w_hi = max(w0, 0), min(w0 + KW, W)
                g = gy[p, oh, ow] / divisor[oh, ow]
                for h in range(h_lo, h_hi):
                    row = gx[p, h, w_lo:w_hi]  # a view, indexed from 0 (see forward)
                    for k in range(w_hi - w_lo):
                        row[k] += g


@register_kernel("numba", "max_pool2d_forward")
def max_pool2d_forward(x, KH, KW, SH, SW, PH, PW, OH, OW):
    """x (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW) int64, flat h*W + w)."""
    N, C, H, W = x.shape
    x3 = numpy.ascontiguousarray(x).reshape(N * C, H, W)  # (N, C, H, W) -> (N*C, H, W)
    y = numpy.empty((N * C, OH, OW), dtype=x.dtype)
    argmax = numpy.empty((N * C, OH, OW), dtype=numpy.int64)
    use_threads_for(x.size)
    _max_pool_fwd(x3, KH, KW, SH, SW, PH, PW, y, argmax)
    return y.reshape(N, C, OH, OW), argmax.reshape(N, C, OH, OW)


@register_kernel("numba", "max_pool2d_backward")
def max_pool2d_backward(gy, argmax, x_shape):
    """gy (N, C, OH, OW), argmax (N, C, OH, OW) -> gx (N, C, H, W)."""
    N, C, H, W = x_shape
    OH, OW = gy.shape[2], gy.shape[3]
    gx = numpy.empty((N * C, H * W), dtype=gy.dtype)
    # (N, C, OH, OW) -> (N*C, OH, OW)
    use_threads_for(gx.size)
    _max_pool_bwd(numpy.ascontiguousarray(gy).reshape(N * C, OH, OW),
                  numpy.ascontiguousarray(argmax).reshape(N * C, OH, OW), gx)
    return gx.reshape(N, C, H, W)  # (N*C, H*W) -> (N, C, H, W)


@register_kernel("numba", "avg_pool2d_forward")
def avg_pool2d_forward(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    """x (N, C, H, W), divisor (OH, OW) -> y (N, C, OH, OW)."""
    N, C, H, W = x.shape
    x3 = numpy.ascontiguousarray(x).reshape(N * C, H, W)  # (N, C, H, W) -> (N*C, H, W)
    divisor = numpy.ascontiguousarray(divisor, dtype=x.dtype)
    y = numpy.empty((N * C, OH, OW), dtype=x.dtype)
    use_threads_for(x.size)
    _avg_pool_fwd(x3, KH, KW, SH, SW, PH, PW, divisor, y)
    return y.reshape(N, C, OH, OW)


@register_kernel("numba", "avg_pool2d_backward")
def avg_pool2d_backward(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    """gy (N, C, OH, OW), divisor (OH, OW) -> gx (N, C, H, W)."""
    N, C, H, W = x_shape
    OH, OW = gy.shape[2], gy.shape[3]
    gy3 = numpy.ascontiguousarray(gy).reshape(N * C, OH, OW)  # -> (N*C, OH, OW)
    divisor = numpy.ascontiguousarray(divisor, dtype=gy.dtype)
    gx = numpy.empty((N * C, H, W), dtype=gy.dtype)
    use_threads_for(gx.size)
    _avg_pool_bwd(gy3, KH, KW, SH, SW, PH, PW, divisor, gx)
    return gx.reshape(N, C, H, W)
