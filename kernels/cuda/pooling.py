"""Max and average pooling on the GPU (pooling.cu and its Numba twins).

Forward kernels give one thread to each output; average-pool backward is a
gather (one thread per input pixel); max-pool backward gives one thread to
each (n, c) plane, which scatters every output gradient to the pixel that won
its window: overlapping windows share pixels, and a single writer per plane
needs no atomics and sums in a fixed order.
"""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward"]


@register_kernel("cuda", "max_pool2d_forward")
def max_pool2d_forward(x, KH, KW, SH, SW, PH, PW, OH, OW):
    """x: (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW) int64),
    argmax the flat index h*W + w of each window's first maximum."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty((N, C, OH, OW), dtype=xp.int64)
    blocks, threads = grid_for(y.size, on_gpu(x))
    launch("pooling", "max_pool2d_forward", blocks, threads,
           (flat(x), y.reshape(-1), argmax.reshape(-1),
            N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW), x.dtype)
    return y, argmax


@register_kernel("cuda", "max_pool2d_backward")
def max_pool2d_backward(gy, argmax, x_shape):
    """gy: (N, C, OH, OW) -> gx: (N, C, H, W); gx[n, c].flat[argmax] += gy."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    _, _, OH, OW = gy.shape
    gx = xp.zeros((N, C, H, W), dtype=gy.dtype)
    blocks, threads = grid_for(N * C, on_gpu(gy))
    launch("pooling", "max_pool2d_backward", blocks, threads,
           (flat(gy), flat(argmax, xp.int64), gx.reshape(-1), N * C, H * W, OH * OW),
           gy.dtype)
    return gx


@register_kernel("cuda", "avg_pool2d_forward")
def avg_pool2d_forward(x, KH, KW, SH, SW, PH, PW, OH, OW, divisor):
    """x: (N, C, H, W) -> y: (N, C, OH, OW) = window sum / divisor (OH, OW)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    blocks, threads = grid_for(y.size, on_gpu(x))
    launch("pooling", "avg_pool2d_forward", blocks, threads,
           (flat(x), flat(xp.asarray(divisor), x.dtype), y.reshape(-1),
            N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW), x.dtype)
    return y


@register_kernel("cuda", "avg_pool2d_backward")
def avg_pool2d_backward(gy, x_shape, KH, KW, SH, SW, PH, PW, divisor):
    """gy: (N, C, OH, OW) -> gx: (N, C, H, W), gx = sum over the windows
    covering each pixel of gy / divisor."""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    _, _, OH, OW = gy.shape
    gx = xp.empty((N, C, H, W), dtype=gy.dtype)
    blocks, threads = grid_for(gx.size, on_gpu(gy))
    launch("pooling", "avg_pool2d_backward", blocks, threads,
           (flat(gy), flat(xp.asarray(divisor), gy.dtype), gx.reshape(-1),
            N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW), gy.dtype)
    return gx
