"""im2col, col2im and conv2d on the GPU: column kernels plus cuBLAS GEMMs.

im2col and col2im are CUDA kernels (im2col.cu and its Numba twin): im2col
gives one thread to each column element, col2im one thread to each input
pixel (a gather: no atomics, deterministic). Convolution is im2col followed
by a batched ``xp.matmul`` (cuBLAS on CuPy data); 1x1 convolutions without
padding need no im2col at all, their columns are the input itself.

The batch is processed in chunks so that one chunk's columns stay under the
workspace limit (``minicnn.set_workspace``); backward recomputes the columns
instead of keeping them from forward.
"""
from __future__ import annotations

from minicnn.backend import get_array_module, get_workspace, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch

__all__ = ["im2col", "col2im", "conv2d_forward", "conv2d_backward", "output_size"]


def output_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW):
    """OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1, and the same for OW."""
    OH = (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    OW = (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
    return OH, OW


@register_kernel("cuda", "im2col")
def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """x: (N, C, H, W) -> cols: (N, C*KH*KW, OH*OW), torch's unfold layout."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
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
    OH, OW = output_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    x = xp.empty((N, C, H, W), dtype=cols.dtype)
    blocks, threads = grid_for(x.size, on_gpu(cols))
    launch("im2col", "col2im", blocks, threads,
           (flat(cols), x.reshape(-1), N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW),
           cols.dtype)
    return x


def _is_pointwise(KH, KW, PH, PW):
    return KH == 1 and KW == 1 and PH == 0 and PW == 0


def _columns(x, KH, KW, SH, SW, PH, PW, DH, DW):
    """The columns of x (n, C, H, W): (n, C*KH*KW, OH*OW).

    A 1x1 kernel without padding reads each pixel once: its columns are the
    (strided) input itself, a view when the stride is 1.
    """
    if _is_pointwise(KH, KW, PH, PW):
        n, C = x.shape[:2]
        return x[:, :, ::SH, ::SW].reshape(n, C, -1)  # (n, C, OH, OW) -> (n, C, OH*OW)
    return im2col(x, KH, KW, SH, SW, PH, PW, DH, DW)


def _chunk(N, column_bytes_per_sample, buffers=1):
    """Samples per chunk so that ``buffers`` column buffers fit the workspace."""
    return max(1, min(N, get_workspace() // max(1, buffers * column_bytes_per_sample)))


@register_kernel("cuda", "conv2d_forward")
def conv2d_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """y = W * x + b, by im2col and a batched GEMM per group.

    x: (N, C, H, W), weight: (OC, C/groups, KH, KW), bias: (OC,) or None
    -> y: (N, OC, OH, OW). With G = groups, K = C/G*KH*KW and L = OH*OW:
    y[n, g] = W[g] @ cols[n, g], a (OC/G, K) @ (K, L) product.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    G = groups
    OH, OW = output_size(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    K, L = C // G * KH * KW, OH * OW
    Wg = weight.reshape(G, OC // G, K)  # (OC, C/G, KH, KW) -> (G, OC/G, K)
    y = xp.empty((N, OC, L), dtype=x.dtype)
    step = _chunk(N, C * KH * KW * L * x.dtype.itemsize)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        cols = _columns(x[n0:n1], KH, KW, SH, SW, PH, PW, DH, DW)
        cols = cols.reshape(n1 - n0, G, K, L)  # (n, C*KH*KW, L) -> (n, G, K, L)
        # (G, OC/G, K) @ (n, G, K, L) -> (n, G, OC/G, L) -> (n, OC, L)
        y[n0:n1] = xp.matmul(Wg, cols).reshape(n1 - n0, OC, L)
    if bias is not None:
        y += bias.reshape(1, OC, 1)  # (OC,) -> (1, OC, 1), broadcast over n and L
    return y.reshape(N, OC, OH, OW)  # (N, OC, L) -> (N, OC, OH, OW)


@register_kernel("cuda", "conv2d_backward")
def conv2d_backward(gy, x, weight, SH, SW, PH, PW, DH, DW, groups, need_gx, need_gW, need_gb):
    """Gradients of y = W[g] @ cols[n, g] + b (shapes as in ``conv2d_forward``):

        gb = sum of gy over N, OH, OW
        gW[g] = sum_n gy[n, g] @ cols[n, g]^T     (OC/G, L) @ (L, K)
        gcols[n, g] = W[g]^T @ gy[n, g]           (K, OC/G) @ (OC/G, L)
        gx = col2im(gcols)

    Columns are recomputed per chunk (nothing kept from forward); a chunk holds
    at most two column-sized buffers within the workspace.
    """
    xp = get_array_module(gy)
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    G = groups
    _, _, OH, OW = gy.shape
    K, L = C // G * KH * KW, OH * OW
    Wg = weight.reshape(G, OC // G, K)  # (OC, C/G, KH, KW) -> (G, OC/G, K)
    gx = xp.empty(x.shape, dtype=x.dtype) if need_gx else None
    gWg = xp.zeros((G, OC // G, K), dtype=x.dtype) if need_gW else None
    gb = gy.sum(axis=(0, 2, 3)) if need_gb else None
    step = _chunk(N, C * KH * KW * L * x.dtype.itemsize, buffers=2)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        n = n1 - n0
        gy_g = gy[n0:n1].reshape(n, G, OC // G, L)  # (n, OC, OH, OW) -> (n, G, OC/G, L)
        if need_gW:
            cols = _columns(x[n0:n1], KH, KW, SH, SW, PH, PW, DH, DW)
            # (n, C*KH*KW, L) -> (n, G, K, L) -> (G, K, n, L) -> (G, K, n*L)
            cols = cols.reshape(n, G, K, L).transpose(1, 2, 0, 3).reshape(G, K, n * L)
            # (n, G, OC/G, L) -> (G, OC/G, n, L) -> (G, OC/G, n*L)
            gy_t = gy_g.transpose(1, 2, 0, 3).reshape(G, OC // G, n * L)
            # (G, OC/G, n*L) @ (G, n*L, K) -> (G, OC/G, K): the sum over n and L
            gWg += xp.matmul(gy_t, cols.transpose(0, 2, 1))
        if need_gx:
            # (G, K, OC/G) @ (n, G, OC/G, L) -> (n, G, K, L) -> (n, C*KH*KW, L)
            gcols = xp.matmul(Wg.transpose(0, 2, 1), gy_g).reshape(n, C * KH * KW, L)
            if _is_pointwise(KH, KW, PH, PW) and SH == 1 and SW == 1:
                gx[n0:n1] = gcols.reshape(n, C, H, W)  # (n, C, L) -> (n, C, H, W)
            else:
                gx[n0:n1] = col2im(gcols, (n, C, H, W), KH, KW, SH, SW, PH, PW, DH, DW)
    gW = gWg.reshape(weight.shape) if need_gW else None  # (G, OC/G, K) -> (OC, C/G, KH, KW)
    return gx, gW, gb
