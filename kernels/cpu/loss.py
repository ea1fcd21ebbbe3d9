"""Fused softmax + cross-entropy (with label smoothing) as Numba kernels (CPU).

Notation: logits z (N, K), target t (N,) int64, smoothing eps::

    log p[n, k] = z[n, k] - max_k z[n] - log sum_k exp(z[n, k] - max_k z[n])
    loss[n]     = -(1 - eps) log p[n, t[n]] - eps/K sum_k log p[n, k]
    glogits     = gloss[n] * (p[n, k] - (1 - eps) [k = t[n]] - eps/K)

(the gradient of -sum_k q_k log p_k is p - q for any target distribution q).
One (parallel) loop iteration per row n; small batches run on one thread.
"""
import math

import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


@njit(cache=True, parallel=True)
def _sce_fwd(z, t, eps, loss, probs):
    """z, probs: (N, K); t, loss: (N,). One exp per logit: p = e / sum(e)."""
    N, K = z.shape
    for n in prange(N):
        m = z[n, 0]
        for k in range(1, K):
            m = max(m, z[n, k])
        s = 0.0
        sum_z = 0.0
        for k in range(K):
            e = math.exp(z[n, k] - m)
            probs[n, k] = e
            s += e
            sum_z += z[n, k]
        lse = m + math.log(s)
        inv = 1.0 / s
        for k in range(K):
            probs[n, k] *= inv
        # sum_k log p[n, k] = sum_k z[n, k] - K * lse
        loss[n] = -(1.0 - eps) * (z[n, t[n]] - lse) - eps / K * (sum_z - K * lse)


@njit(cache=True, parallel=True)
def _sce_bwd(probs, t, eps, gloss, glogits):
    """probs, glogits: (N, K); t, gloss: (N,)."""
    N, K = probs.shape
    off = eps / K
    for n in prange(N):
        g = gloss[n]
        for k in range(K):
            glogits[n, k] = g * (probs[n, k] - off)
        glogits[n, t[n]] -= g * (1.0 - eps)


@register_kernel("numba", "softmax_cross_entropy_forward")
def softmax_cross_entropy_forward(logits, target, label_smoothing):
    """logits (N, K), target (N,) int64 -> (loss (N,), probs (N, K))."""
    logits = numpy.ascontiguousarray(logits)
    N, K = logits.shape
    loss = numpy.empty(N, dtype=logits.dtype)
    probs = numpy.empty((N, K), dtype=logits.dtype)
    use_threads_for(N * K)
    _sce_fwd(logits, numpy.ascontiguousarray(target, dtype=numpy.int64),
             float(label_smoothing), loss, probs)
    return loss, probs


@register_kernel("numba", "softmax_cross_entropy_backward")
def softmax_cross_entropy_backward(probs, target, label_smoothing, gloss):
    """probs (N, K), target (N,), gloss (N,) -> glogits (N, K)."""
    probs = numpy.ascontiguousarray(probs)
    glogits = numpy.empty_like(probs)
    gloss = numpy.ascontiguousarray(numpy.broadcast_to(gloss, (probs.shape[0],)))
    use_threads_for(probs.size)
    _sce_bwd(probs, numpy.ascontiguousarray(target, dtype=numpy.int64),
             float(label_smoothing), gloss, glogits)
    return glogits
