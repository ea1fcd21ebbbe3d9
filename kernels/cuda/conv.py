"""im2col and col2im on the GPU: the column kernels of the convolution.

im2col and col2im are CUDA kernels (im2col.cu and its Numba twin): im2col
gives one thread to each column element, col2im one thread to each input
pixel (a gather: no atomics, deterministic).

There is no GPU conv2d here on purpose. The GEMM driver of
``minicnn/functional/conv.py`` (``conv2d_forward_reference`` and
``conv2d_backward_reference``) is written against ``xp``: on CuPy arrays its
``kernel("im2col")``/``kernel("col2im")`` calls land on the two kernels below
and its ``xp.matmul`` is cuBLAS, so the cuda backend registers only the
kernels it really owns and shares the one driver (its chunking under the
workspace, its 1x1 shortcut) with the CPU reference.
"""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.functional._geometry import conv_output_hw
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["im2col", "col2im"]


@register_kernel("cuda", "im2col")
def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), torch's unfold layout."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    cols = xp.empty((N, C * KH * KW, OH * OW), dtype=x.dtype)
    blocks, threads = grid_for(cols.size, on_gpu(x))
    launch("im2col", "im2col", blocks, threads,
           (flat(x), cols.reshape(-1), N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW),
           x.dtype)
    return cols


@register_kernel("cuda", "col2im")
def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW):
    """cols: (N, C*KH*KW, OH*OW) -> x: (N, C, H, W), every entry added back
    to the pixel it was copied from (torch's fold)."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    x = xp.empty((N, C, H, W), dtype=cols.dtype)
    blocks, threads = grid_for(x.size, on_gpu(cols))
    launch("im2col", "col2im", blocks, threads,
           (flat(cols), x.reshape(-1), N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW),
           cols.dtype)
    return x
