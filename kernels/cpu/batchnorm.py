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
its passes over the N contiguous rows x3[n, c, :]. The loops are compiled with
``fastmath={'reassoc', 'contract'}``: the sums may be reordered (and a*b + c
fused), which lets LLVM vectorize them; NaN and inf keep their meaning. Without
it the masked sums of the fused backward run as scalar code whose branch on
y3 > 0 is mispredicted half the time (see benchmarks/RESULTS.md, fused ReLU).

The fused BatchNorm -> ReLU (``batch_norm_relu_forward/backward``) runs the
same loops with a ``floor`` of 0 instead of -inf: forward writes max(y3, 0) in
the loop that writes y3, backward reads gy3 * (y3 > 0) (y3 the ReLU output) in
both of its passes, so the masked gradient is never stored.
"""
import math

import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["batch_norm_forward", "batch_norm_backward",
           "batch_norm_relu_forward", "batch_norm_relu_backward"]


# reorder sums and fuse multiply-adds; no assumption about NaN or inf
_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _bn_fwd(x3, weight, bias, eps, floor, y3, mean, var, inv_std):
    """x3, y3: (N, C, L); weight, bias, mean, var, inv_std: (C,).

    floor: -inf, or 0 to write max(y3, 0) (the fused ReLU); a value, not a
    branch, so the loop stays one vectorizable select."""
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
                v = a * (x3[n, c, l] - mu) + bias[c]
                # 'not (v < floor)' keeps NaN, as the ReLU kernel does
                y3[n, c, l] = v if not (v < floor) else floor


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _bn_bwd(gy3, x3, mean, inv_std, weight, floor, y3, gx3, gweight, gbias):
    """gy3, x3, gx3, y3: (N, C, L); mean, inv_std, weight, gweight, gbias: (C,).

    The gradient is gy3 * (y3 > floor): floor 0 with y3 the ReLU's output (the
    fused ReLU's mask), or -inf with y3 = gy3 (no mask)."""
    N, C, L = x3.shape
    M = N * L
    for c in prange(C):
        mu = mean[c]
        istd = inv_std[c]
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                g = gy3[n, c, l] * (y3[n, c, l] > floor)
                sg += g
                sgx += g * (x3[n, c, l] - mu) * istd
        gbias[c] = sg
        gweight[c] = sgx
        a = weight[c] * istd / M
        for n in range(N):
            for l in range(L):
                g = gy3[n, c, l] * (y3[n, c, l] > floor)
                xhat = (x3[n, c, l] - mu) * istd
                gx3[n, c, l] = a * (M * g - sg - xhat * sgx)


def _params(weight, bias, C, dtype):
    """weight/bias or their identity values (1, 0) when the layer has none."""
    w = numpy.ones(C, dtype=dtype) if weight is None else numpy.ascontiguousarray(weight)
    b = numpy.zeros(C, dtype=dtype) if bias is None else numpy.ascontiguousarray(bias)
    return w, b


def _forward(x3, weight, bias, eps, relu):
    x3 = numpy.ascontiguousarray(x3)
    C = x3.shape[1]
    w, b = _params(weight, bias, C, x3.dtype)
    y3 = numpy.empty_like(x3)
    mean = numpy.empty(C, dtype=x3.dtype)
    var = numpy.empty(C, dtype=x3.dtype)
    inv_std = numpy.empty(C, dtype=x3.dtype)
    use_threads_for(x3.size)
    _bn_fwd(x3, w, b, float(eps), 0.0 if relu else -math.inf, y3, mean, var, inv_std)
    return y3, mean, var, inv_std


def _backward(gy3, x3, mean, inv_std, weight, relu, y3):
    gy3 = numpy.ascontiguousarray(gy3)
    x3 = numpy.ascontiguousarray(x3)
    C = x3.shape[1]
    w, _ = _params(weight, None, C, x3.dtype)
    gx3 = numpy.empty_like(x3)
    gweight = numpy.empty(C, dtype=x3.dtype)
    gbias = numpy.empty(C, dtype=x3.dtype)
    use_threads_for(x3.size)
    _bn_bwd(gy3, x3, numpy.ascontiguousarray(mean), numpy.ascontiguousarray(inv_std),
            w, 0.0 if relu else -math.inf, numpy.ascontiguousarray(y3), gx3, gweight, gbias)
    return gx3, gweight, gbias


@register_kernel("numba", "batch_norm_forward")
def batch_norm_forward(x3, weight, bias, eps):
    """x3 (N, C, L), weight/bias (C,) or None -> (y3, mean (C,), var (C,), inv_std (C,))."""
    return _forward(x3, weight, bias, eps, False)


@register_kernel("numba", "batch_norm_backward")
def batch_norm_backward(gy3, x3, mean, inv_std, weight):
    """gy3, x3 (N, C, L) -> (gx3 (N, C, L), gweight (C,), gbias (C,))."""
    return _backward(gy3, x3, mean, inv_std, weight, False, gy3)   # y3 unread


@register_kernel("numba", "batch_norm_relu_forward")
def batch_norm_relu_forward(x3, weight, bias, eps):
    """x3 (N, C, L) -> (max(BN(x3), 0) (N, C, L), mean (C,), var (C,), inv_std (C,))."""
    return _forward(x3, weight, bias, eps, True)


@register_kernel("numba", "batch_norm_relu_backward")
def batch_norm_relu_backward(gy3, x3, y3, mean, inv_std, weight):
    """gy3, x3, y3 (N, C, L), y3 the fused output -> (gx3, gweight (C,), gbias (C,)),
    BatchNorm's gradient of gy3 * (y3 > 0)."""
    return _backward(gy3, x3, mean, inv_std, weight, True, y3)
