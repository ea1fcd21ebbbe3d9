"""ReLU on the GPU (elementwise.cu and its Numba twins): one thread per element."""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["relu_forward", "relu_backward"]


@register_kernel("cuda", "relu_forward")
def relu_forward(x):
    """y = max(x, 0), NaN kept; any shape."""
    xp = get_array_module(x)
    y = xp.empty(x.shape, dtype=x.dtype)
    blocks, threads = grid_for(x.size, on_gpu(x))
    launch("elementwise", "relu_forward", blocks, threads,
           (flat(x), y.reshape(-1), x.size), x.dtype)
    return y


@register_kernel("cuda", "relu_backward")
def relu_backward(gy, y):
    """gx = gy where y > 0, else 0."""
    xp = get_array_module(gy)
    gx = xp.empty(y.shape, dtype=y.dtype)
    blocks, threads = grid_for(y.size, on_gpu(gy))
    launch("elementwise", "relu_backward", blocks, threads,
           (flat(gy, y.dtype), flat(y), gx.reshape(-1), y.size), y.dtype)
    return gx
