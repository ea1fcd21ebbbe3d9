"""Dropout on the GPU (elementwise.cu and its Numba twin): one thread per element.

The uniform numbers ``u`` are drawn by the op from ``minicnn.rng``, so the
kernel only turns them into the mask: every backend drops the same units.
"""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["dropout_forward"]


@register_kernel("cuda", "dropout_forward")
def dropout_forward(x, u, p):
    """(y, mask) with mask = (u >= p) / (1 - p) in x's dtype and y = x * mask.

    p = 1 drops everything (mask 0, never 0 * inf).
    """
    xp = get_array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    mask = xp.empty(x.shape, dtype=x.dtype)
    scale = x.dtype.type(1.0 / (1.0 - p) if p < 1 else 0.0)
    blocks, threads = grid_for(x.size, on_gpu(x))
    launch("elementwise", "dropout_forward", blocks, threads,
           (flat(x), flat(u), y.reshape(-1), mask.reshape(-1), x.size, float(p), scale),
           x.dtype)
    return y, mask
