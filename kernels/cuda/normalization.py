"""LRN and fused BatchNorm on the GPU (lrn.cu, batch_norm.cu and Numba twins).

LRN gives one thread to each element, which loops over its channel window.
BatchNorm gives one block to each channel: its threads reduce the channel's
N*L values in shared memory (mean, then the centred variance; sums in
float64), then normalise them, all in one launch.
"""
from __future__ import annotations

import math

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch, reduce_block

__all__ = ["lrn_forward", "lrn_backward", "batch_norm_forward", "batch_norm_backward"]


def _n_c_rest(shape):
    """(N, C, product of the remaining axes) of an (N, C, ...) shape."""
    return shape[0], shape[1], math.prod(shape[2:])


@register_kernel("cuda", "lrn_forward")
def lrn_forward(x, size, alpha, beta, k):
    """x: (N, C, ...) -> (y, scale), scale = k + alpha/size * sum of x^2 over
    channels c - size//2 .. c + (size-1)//2, y = x * scale^-beta."""
    xp = get_array_module(x)
    N, C, HW = _n_c_rest(x.shape)
    y = xp.empty(x.shape, dtype=x.dtype)
    scale = xp.empty(x.shape, dtype=x.dtype)
    blocks, threads = grid_for(x.size, on_gpu(x))
    launch("lrn", "lrn_forward", blocks, threads,
           (flat(x), y.reshape(-1), scale.reshape(-1), N, C, HW,
            int(size), float(alpha), float(beta), float(k)), x.dtype)
    return y, scale


@register_kernel("cuda", "lrn_backward")
def lrn_backward(gy, x, y, scale, size, alpha, beta, k):
    """gx = gy scale^-beta - 2 alpha beta/size x sum_{c'} gy[c'] y[c'] / scale[c']."""
    xp = get_array_module(gy)
    N, C, HW = _n_c_rest(x.shape)
    gx = xp.empty(x.shape, dtype=x.dtype)
    blocks, threads = grid_for(x.size, on_gpu(gy))
    launch("lrn", "lrn_backward", blocks, threads,
           (flat(gy, x.dtype), flat(x), flat(y), flat(scale), gx.reshape(-1), N, C, HW,
            int(size), float(alpha), float(beta), float(k)), x.dtype)
    return gx


@register_kernel("cuda", "batch_norm_forward")
def batch_norm_forward(x3, weight, bias, eps):
    """x3: (N, C, L) -> (y3 (N, C, L), mean (C,), var (C,) biased, inv_std (C,)).

    y3 = (x3 - mean) * inv_std * weight + bias, inv_std = 1 / sqrt(var + eps);
    weight and bias are (C,) or None.
    """
    xp = get_array_module(x3)
    N, C, L = x3.shape
    x = flat(x3)
    y3 = xp.empty((N, C, L), dtype=x3.dtype)
    mean, var, inv_std = (xp.empty(C, dtype=x3.dtype) for _ in range(3))
    # a missing weight/bias is passed as a dummy (never read: has_weight/has_bias = 0)
    w = flat(weight, x3.dtype) if weight is not None else xp.zeros(1, dtype=x3.dtype)
    b = flat(bias, x3.dtype) if bias is not None else xp.zeros(1, dtype=x3.dtype)
    launch("batch_norm", "batch_norm_forward", C, reduce_block(N * L, on_gpu(x3)),
           (x, w, b, y3.reshape(-1), mean, var, inv_std, N, C, L, float(eps),
            weight is not None, bias is not None), x3.dtype)
    return y3, mean, var, inv_std


@register_kernel("cuda", "batch_norm_backward")
def batch_norm_backward(gy3, x3, mean, inv_std, weight):
    """Training-mode gradients, with xhat = (x - mean) * inv_std and M = N*L:
    gbias = sum gy, gweight = sum gy xhat,
    gx = weight inv_std / M (M gy - gbias - xhat gweight)."""
    xp = get_array_module(gy3)
    N, C, L = x3.shape
    x = flat(x3)
    gx3 = xp.empty((N, C, L), dtype=x3.dtype)
    gweight = xp.empty(C, dtype=x3.dtype)
    gbias = xp.empty(C, dtype=x3.dtype)
    w = flat(weight, x3.dtype) if weight is not None else xp.zeros(1, dtype=x3.dtype)
    launch("batch_norm", "batch_norm_backward", C, reduce_block(N * L, on_gpu(gy3)),
           (flat(gy3, x3.dtype), x, flat(mean, x3.dtype), flat(inv_std, x3.dtype), w,
            gx3.reshape(-1), gweight, gbias, N, C, L, weight is not None), x3.dtype)
    return gx3, gweight, gbias
