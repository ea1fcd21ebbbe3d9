"""Fused batch normalisation (training mode), forward and backward, in Numba.

Notation: x3 (N, C, L) with L = H*W (or 1 for (N, C) input), M = N*L::

    mean[c]    = 1/M sum x3[:, c, :]
    var[c]     = 1/M sum (x3[:, c, :] - mean[c])^2          (biased)
    inv_std[c] = 1 / sqrt(var[c] + eps)
    xhat       = (x3 - mean) * inv_std,    y3 = weight * xhat + bias

Backward (all sums over n and l, per channel):

    gbias   = sum gy
    gweight = sum gy * xhat
    gx      = weight * inv_std / M * (M * gy - gbias - xhat * gweight)

One parallel iteration per channel; each keeps its sums in float64 and makes
its passes over the N contiguous rows x3[n, c, :].
"""
import math

import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["batch_norm_forward", "batch_norm_backward"]


@njit(cache=True, parallel=True)
def _bn_fwd(x3, weight, bias, eps, y3, mean, var, inv_std):
    """x3, y3: (N, C, L); weight, bias, mean, var, inv_std: (C,)."""
    N, C, L = x3.shape
    M = N * L
    for c in prange(C):
        s = 0.0
        for n in range(N):
            for l in range(L):
                s += x3[n, c, l]
        mu = s / M
        s2 = 0.0
        for n in range(N):
            for l in range(L):
                d = x3[n, c, l] - mu
                s2 += d * d
        v = s2 / M
        istd = 1.0 / math.sqrt(v + eps)
        mean[c] = mu
        var[c] = v
        inv_std[c] = istd
        a = weight[c] * istd  # y = a * (x - mu) + bias
        for n in range(N):
            for l in range(L):
                y3[n, c, l] = a * (x3[n, c, l] - mu) + bias[c]


@njit(cache=True, parallel=True)
def _bn_bwd(gy3, x3, mean, inv_std, weight, gx3, gweight, gbias):
    """gy3, x3, gx3: (N, C, L); mean, inv_std, weight, gweight, gbias: (C,)."""
    N, C, L = x3.shape
    M = N * L
    for c in prange(C):
        mu = mean[c]
        istd = inv_std[c]
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                g = gy3[n, c, l]
                sg += g
                sgx += g * (x3[n, c, l] - mu) * istd
        gbias[c] = sg
        gweight[c] = sgx
        a = weight[c] * istd / M
        for n in range(N):
            for l in range(L):
                xhat = (x3[n, c, l] - mu) * istd
                gx3[n, c, l] = a * (M * gy3[n, c, l] - sg - xhat * sgx)


def _params(weight, bias, C, dtype):
    """weight/bias or their identity values (1, 0) when the layer has none."""
    w = numpy.ones(C, dtype=dtype) if weight is None else numpy.ascontiguousarray(weight)
    b = numpy.zeros(C, dtype=dtype) if bias is None else numpy.ascontiguousarray(bias)
    return w, b


@register_kernel("numba", "batch_norm_forward")
def batch_norm_forward(x3, weight, bias, eps):
    """x3 (N, C, L), weight/bias (C,) or None -> (y3, mean (C,), var (C,), inv_std (C,))."""
    x3 = numpy.ascontiguousarray(x3)
    C = x3.shape[1]
    w, b = _params(weight, bias, C, x3.dtype)
    y3 = numpy.empty_like(x3)
    mean = numpy.empty(C, dtype=x3.dtype)
    var = numpy.empty(C, dtype=x3.dtype)
    inv_std = numpy.empty(C, dtype=x3.dtype)
    use_threads_for(x3.size)
    _bn_fwd(x3, w, b, float(eps), y3, mean, var, inv_std)
    return y3, mean, var, inv_std


@register_kernel("numba", "batch_norm_backward")
def batch_norm_backward(gy3, x3, mean, inv_std, weight):
    """gy3, x3 (N, C, L) -> (gx3 (N, C, L), gweight (C,), gbias (C,))."""
    gy3 = numpy.ascontiguousarray(gy3)
    x3 = numpy.ascontiguousarray(x3)
    C = x3.shape[1]
    w, _ = _params(weight, None, C, x3.dtype)
    gx3 = numpy.empty_like(x3)
    gweight = numpy.empty(C, dtype=x3.dtype)
    gbias = numpy.empty(C, dtype=x3.dtype)
    use_threads_for(x3.size)
    _bn_bwd(gy3, x3, numpy.ascontiguousarray(mean), numpy.ascontiguousarray(inv_std),
            w, gx3, gweight, gbias)
    return gx3, gweight, gbias
