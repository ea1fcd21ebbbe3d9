"""Local response normalisation (across channels), forward and backward, in Numba.

Notation (PyTorch's ``local_response_norm``), x: (N, C, H, W) or (N, C, L)::

    window(c) = channels [c - size//2, c + (size-1)//2] that exist
    scale[c]  = k + alpha/size * sum over c' in window(c) of x[c']^2
    y[c]      = x[c] * scale[c]^-beta

Backward: dy[c]/dx[c'] = [c = c'] scale[c]^-beta
                         - beta * x[c] * scale[c]^(-beta-1) * 2 alpha/size * x[c']
for c' in window(c), so, with c in window^-1(c') = [c' - (size-1)//2, c' + size//2],

    gx[c'] = gy[c'] * scale[c']^-beta
             - 2 alpha beta / size * x[c'] * sum over c of gy[c] * y[c] / scale[c]

Both kernels run one parallel iteration per (n, c) plane and loop over the
pixels of the plane, which are contiguous.
"""
import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["lrn_forward", "lrn_backward"]


@njit(cache=True, parallel=True)
def _lrn_fwd(x, size, alpha, beta, k, y, scale):
    """x, y, scale: (N, C, L)."""
    N, C, L = x.shape
    lo, hi = size // 2, (size - 1) // 2
    coef = alpha / size
    for p in prange(N * C):
        n = p // C
        c = p % C
        c_lo, c_hi = max(0, c - lo), min(C - 1, c + hi)
        for l in range(L):
            s = 0.0
            for cc in range(c_lo, c_hi + 1):
                v = x[n, cc, l]
                s += v * v
            sc = k + coef * s
            scale[n, c, l] = sc
            y[n, c, l] = x[n, c, l] * sc ** -beta


@njit(cache=True, parallel=True)
def _lrn_bwd(gy, x, y, scale, size, alpha, beta, gx):
    """gy, x, y, scale, gx: (N, C, L)."""
    N, C, L = x.shape
    lo, hi = size // 2, (size - 1) // 2
    coef = 2.0 * alpha * beta / size
    for p in prange(N * C):
        n = p // C
        c = p % C
        # the channels whose window contains c
        c_lo, c_hi = max(0, c - hi), min(C - 1, c + lo)
        for l in range(L):
            s = 0.0
            for cc in range(c_lo, c_hi + 1):
                s += gy[n, cc, l] * y[n, cc, l] / scale[n, cc, l]
            gx[n, c, l] = gy[n, c, l] * scale[n, c, l] ** -beta - coef * x[n, c, l] * s


def _as3(a):
    """(N, C, ...) -> contiguous (N, C, L)."""
    a = numpy.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


@register_kernel("numba", "lrn_forward")
def lrn_forward(x, size, alpha, beta, k):
    """x (N, C, ...) -> (y, scale), both of x's shape."""
    x3 = _as3(x)
    y = numpy.empty_like(x3)
    scale = numpy.empty_like(x3)
    use_threads_for(x3.size * size)
    _lrn_fwd(x3, int(size), float(alpha), float(beta), float(k), y, scale)
    return y.reshape(x.shape), scale.reshape(x.shape)


@register_kernel("numba", "lrn_backward")
def lrn_backward(gy, x, y, scale, size, alpha, beta, k):
    """gy, x, y, scale (N, C, ...) -> gx of x's shape (k is already inside scale)."""
    gx = numpy.empty(_as3(x).shape, dtype=gy.dtype)
    use_threads_for(gx.size * size)
    _lrn_bwd(_as3(gy), _as3(x), _as3(y), _as3(scale), int(size), float(alpha), float(beta), gx)
    return gx.reshape(x.shape)
