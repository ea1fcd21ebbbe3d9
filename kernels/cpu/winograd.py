"""Winograd F(m x m, 3x3) convolution for 3x3 stride-1 layers, CPU.

The method, the matrices and the backward derivation are in the NumPy
reference, minicnn/functional/conv_winograd.py; the constants come from
minicnn/functional/_winograd.py. This file is the same computation with the
layout changes as parallel Numba loops and the channel sums as BLAS GEMMs:

    U  = G g G^T          _filter_transform        (alpha^2, OC, C)  once per call
    V  = B^T d B          _input_transform         (alpha^2, C, nb*TH*TW)
    M  = U @ V            alpha^2 GEMMs (OC, C) @ (C, nb*TH*TW) -> (alpha^2, OC, nb*TH*TW)
    y  = A^T M A          _output_transform        cropped into (N, OC, OH, OW), + bias

    gx       the same forward on gy, padding 2 - P, filters flipped and transposed
    gweight  dM = A dY A^T  (_output_transform_adjoint), dU += dM @ V^T (GEMM over
             the tiles), gweight = G^T dU G  (_filter_transform_adjoint)

Position (xi, nu) of a tile is row xi*alpha + nu of the alpha^2 axis. The
transforms read the input with implicit zero padding (no padded copy): a tile
pixel outside the image is 0. The batch runs in chunks of nb images whose V
and M (``winograd_tile_values``) fit in ``minicnn.get_workspace()``, in
buffers reused from call to call (``_scratch``).

The GEMMs are one 2-D numpy.matmul per position (one BLAS call each):
NumPy's stacked matmul over the alpha^2 axis did not reach BLAS's speed here
(benchmarks/RESULTS.md, "numba conv2d: direct, im2col or Winograd"). The
transforms are small matrix products per tile, written as loops over the
matrices of _winograd.py for all the tiles of one (image, channel) plane at a
time, so that the inner loops run along the tile axis and vectorize;
``fastmath={'reassoc', 'contract'}`` as in direct_conv.py (no flag lets LLVM
assume there are no NaNs).
"""
import math

import numpy
from numba import njit, prange

from minicnn.functional._geometry import chunk_size, conv_output_hw
from minicnn.functional._winograd import (
    WINOGRAD_TILE,
    winograd_applies,
    winograd_matrices,
    winograd_tile_values,
    winograd_tiles,
)

from ._scratch import scratch
from ._threads import use_threads_for

__all__ = ["winograd_conv2d_forward", "winograd_conv2d_backward", "winograd_pays",
           "winograd_cost", "WINOGRAD_FROM"]

_FAST = {"reassoc", "contract"}


# When 'auto' takes Winograd: winograd_cost (C*OC, times the share of the
# tiles' outputs kept) at least this. ``minicnn bench --only conv-paths``
# (benchmarks/RESULTS.md: the "Convolution paths" table at the top, on an idle
# machine, and "numba conv2d: direct, im2col or Winograd", a first run) timed
# both tiles on 9 3x3 layers, C*OC from 32 to 65536 (ResNet-20, the Keras CNN,
# ResNet-50's 3x3 layers at 56, 28 and 14 pixels): im2col + GEMM or the direct
# kernels beat Winograd on every one, so there is no finite threshold the
# measurements support and 'auto' never takes Winograd. Lower this where that
# benchmark shows Winograd winning from some cost on; conv_algorithm('winograd')
# forces it meanwhile.
WINOGRAD_FROM = math.inf


def winograd_cost(C, OC, W, PW) -> float:
    """C*OC, the size of each of the alpha^2 GEMMs' (OC, C) factor, scaled by
    OW / (TW*m), the share of the tiles' outputs that are kept."""
    OW = W + 2 * PW - 2
    TW = -(-OW // WINOGRAD_TILE)
    return C * OC * OW / (TW * WINOGRAD_TILE)


def winograd_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups) -> bool:
    """True when Winograd applies to this layer (``winograd_applies``) and is
    expected to beat im2col + GEMM: ``winograd_cost`` is at least WINOGRAD_FROM
    (infinite as measured so far: never)."""
    if not winograd_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups):
        return False
    return winograd_cost(C, OC, W, PW) >= WINOGRAD_FROM


@njit(cache=True, parallel=True, fastmath=_FAST)
def _filter_transform(weight, G, U):
    """U[xi*alpha + nu, o, c] = (G weight[o, c] G^T)[xi, nu].

    weight: (OC, C, 3, 3); G: (alpha, 3); U: (alpha^2, OC, C).
    One parallel iteration per output channel, the inner loops over c (the
    contiguous axis of U).
    """
    OC, C = weight.shape[0], weight.shape[1]
    alpha = G.shape[0]
    for o in prange(OC):
        Gg = numpy.zeros((alpha, 3, C), dtype=U.dtype)  # (G g)[xi, j, c]
        for xi in range(alpha):
            for i in range(3):
                f = G[xi, i]
                if f != 0:
                    for j in range(3):
                        for c in range(C):
                            Gg[xi, j, c] += f * weight[o, c, i, j]
        for xi in range(alpha):
            for nu in range(alpha):
                row = U[xi * alpha + nu, o]
                row[:] = 0
                for j in range(3):
                    f = G[nu, j]
                    if f != 0:
                        for c in range(C):
                            row[c] += f * Gg[xi, j, c]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _filter_transform_adjoint(dU, G, gweight):
    """gweight[o, c] = G^T dU[:, o, c] G, dU's alpha^2 axis read as (alpha, alpha).

    dU: (alpha^2, OC, C); G: (alpha, 3); gweight: (OC, C, 3, 3).
    One parallel iteration per output channel, the inner loops over c.
    """
    OC, C = gweight.shape[0], gweight.shape[1]
    alpha = G.shape[0]
    for o in prange(OC):
        GtdU = numpy.zeros((3, alpha, C), dtype=gweight.dtype)  # (G^T dU)[i, nu, c]
        for xi in range(alpha):
            for i in range(3):
                f = G[xi, i]
                if f != 0:
                    for nu in range(alpha):
                        src = dU[xi * alpha + nu, o]
                        for c in range(C):
                            GtdU[i, nu, c] += f * src[c]
        out = numpy.zeros((3, 3, C), dtype=gweight.dtype)  # (G^T dU G)[i, j, c]
        for i in range(3):
            for j in range(3):
                for nu in range(alpha):
                    f = G[nu, j]
                    if f != 0:
                        for c in range(C):
                            out[i, j, c] += f * GtdU[i, nu, c]
        for c in range(C):
            for i in range(3):
                for j in range(3):
                    gweight[o, c, i, j] = out[i, j, c]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _input_transform(x, n0, PH, PW, TH, TW, BT, V):
    """V[xi*alpha + nu, c, n*T + th*TW + tw] = (B^T d B)[xi, nu] for the input
    tile d = x[n0 + n, c, th*m - PH : ... + alpha, tw*m - PW : ... + alpha]
    (zero outside the image), T = TH*TW.

    x: (N, C, H, W); BT: (alpha, alpha); V: (alpha^2, C, nb*T).
    One parallel iteration per (image, channel) plane: its T tiles are
    transformed together, so every inner loop runs over the tile index t,
    the contiguous axis of V, and vectorizes; zero entries of B^T are skipped.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    alpha = BT.shape[0]
    m = alpha - 2
    T = TH * TW
    nb = V.shape[2] // T
    for p in prange(nb * C):
        n = p // C
        c = p % C
        d = numpy.zeros((alpha, alpha, T), dtype=V.dtype)    # d[a, b, t]
        BTd = numpy.zeros((alpha, alpha, T), dtype=V.dtype)  # (B^T d)[xi, b, t]
        for th in range(TH):
            for a in range(alpha):
                h = th * m - PH + a
                if 0 <= h < H:
                    for b in range(alpha):
                        # the tiles whose column tw*m - PW + b lies in 0 .. W-1
                        first = max(0, (PW - b + m - 1) // m)
                        last = min(TW, (W - 1 + PW - b) // m + 1)
                        for tw in range(first, last):
                            d[a, b, th * TW + tw] = x[n0 + n, c, h, tw * m - PW + b]
        for xi in range(alpha):
            for a in range(alpha):
                f = BT[xi, a]
                if f != 0:
                    for b in range(alpha):
                        for t in range(T):
                            BTd[xi, b, t] += f * d[a, b, t]
        for xi in range(alpha):
            for nu in range(alpha):
                row = V[xi * alpha + nu, c, n * T:(n + 1) * T]
                row[:] = 0
                for b in range(alpha):
                    f = BT[nu, b]
                    if f != 0:
                        for t in range(T):
                            row[t] += f * BTd[xi, b, t]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _output_transform(M, AT, bias, TH, TW, y, n0):
    """y[n0 + n, o, th*m + i, tw*m + j] = (A^T M_t A)[i, j] + bias[o] for the
    tile t = n*T + th*TW + tw, M_t = M[:, o, t] read as (alpha, alpha);
    outputs past (OH, OW) are dropped.

    M: (alpha^2, OC, nb*T); AT: (m, alpha); bias: (OC,); y: (N, OC, OH, OW).
    One parallel iteration per (image, output channel) plane, the inner loops
    over the tile index as in ``_input_transform``.
    """
    OC = M.shape[1]
    OH, OW = y.shape[2], y.shape[3]
    m, alpha = AT.shape
    T = TH * TW
    nb = M.shape[2] // T
    for p in prange(nb * OC):
        n = p // OC
        o = p % OC
        ATM = numpy.zeros((m, alpha, T), dtype=y.dtype)  # (A^T M)[i, nu, t]
        Y = numpy.empty((m, m, T), dtype=y.dtype)        # (A^T M A)[i, j, t] + bias
        for xi in range(alpha):
            for i in range(m):
                f = AT[i, xi]
                if f != 0:
                    for nu in range(alpha):
                        src = M[xi * alpha + nu, o, n * T:(n + 1) * T]
                        for t in range(T):
                            ATM[i, nu, t] += f * src[t]
        for i in range(m):
            for j in range(m):
                Y[i, j, :] = bias[o]
                for nu in range(alpha):
                    f = AT[j, nu]
                    if f != 0:
                        for t in range(T):
                            Y[i, j, t] += f * ATM[i, nu, t]
        for th in range(TH):
            for i in range(min(m, OH - th * m)):
                for tw in range(TW):
                    for j in range(min(m, OW - tw * m)):
                        y[n0 + n, o, th * m + i, tw * m + j] = Y[i, j, th * TW + tw]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _output_transform_adjoint(gy, n0, AT, TH, TW, dM):
    """dM[xi*alpha + nu, o, t] = (A dY A^T)[xi, nu], dY the (m, m) tile t =
    n*T + th*TW + tw of gy[n0 + n, o], zero past (OH, OW).

    gy: (N, OC, OH, OW); AT: (m, alpha); dM: (alpha^2, OC, nb*T).
    One parallel iteration per (image, output channel) plane.
    """
    OC, OH, OW = gy.shape[1], gy.shape[2], gy.shape[3]
    m, alpha = AT.shape
    T = TH * TW
    nb = dM.shape[2] // T
    for p in prange(nb * OC):
        n = p // OC
        o = p % OC
        dY = numpy.zeros((m, m, T), dtype=dM.dtype)       # dY[i, j, t]
        AdY = numpy.zeros((alpha, m, T), dtype=dM.dtype)  # (A dY)[xi, j, t]
        for th in range(TH):
            for i in range(min(m, OH - th * m)):
                for tw in range(TW):
                    for j in range(min(m, OW - tw * m)):
                        dY[i, j, th * TW + tw] = gy[n0 + n, o, th * m + i, tw * m + j]
        for xi in range(alpha):
            for i in range(m):
                f = AT[i, xi]
                if f != 0:
                    for j in range(m):
                        for t in range(T):
                            AdY[xi, j, t] += f * dY[i, j, t]
        for xi in range(alpha):
            for nu in range(alpha):
                row = dM[xi * alpha + nu, o, n * T:(n + 1) * T]
                row[:] = 0
                for j in range(m):
                    f = AT[j, nu]
                    if f != 0:
                        for t in range(T):
                            row[t] += f * AdY[xi, j, t]


def _chunk(N, C, OC, TH, TW, tile, itemsize):
    """Images per chunk: V and M of a chunk fit in the workspace together."""
    return chunk_size(N, winograd_tile_values(C, OC, TH, TW, tile) * itemsize, buffers=1)


def winograd_conv2d_forward(x, weight, bias, PH, PW, tile=WINOGRAD_TILE):
    """x (N, C, H, W), weight (OC, C, 3, 3), bias (OC,) -> y (N, OC, OH, OW),
    stride 1, padding PH, PW in 0..2, by Winograd F(tile x tile, 3x3).

    x and weight C-contiguous; bias an array (zeros for none).
    """
    N, C, H, W = x.shape
    OC = weight.shape[0]
    OH, OW = conv_output_hw(H, W, 3, 3, 1, 1, PH, PW, 1, 1)
    TH, TW = winograd_tiles(OH, OW, tile)
    T = TH * TW
    alpha2 = (tile + 2) ** 2
    BT, G, AT = winograd_matrices(tile, x.dtype)
    U = numpy.empty((alpha2, OC, C), dtype=x.dtype)
    use_threads_for(alpha2 * OC * C)
    _filter_transform(weight, G, U)
    nb = _chunk(N, C, OC, TH, TW, tile, x.itemsize)
    V_buf = scratch("winograd_tiles", alpha2 * C * nb * T, x.dtype)
    M_buf = scratch("winograd_products", alpha2 * OC * nb * T, x.dtype)
    y = numpy.empty((N, OC, OH, OW), dtype=x.dtype)
    use_threads_for(alpha2 * (C + OC) * nb * T)
    for n0 in range(0, N, nb):
        b = min(nb, N - n0)
        V = V_buf[:alpha2 * C * b * T].reshape(alpha2, C, b * T)
        M = M_buf[:alpha2 * OC * b * T].reshape(alpha2, OC, b * T)
        _input_transform(x, n0, PH, PW, TH, TW, BT, V)
        for k in range(alpha2):  # one (OC, C) @ (C, b*T) GEMM per tile position
            numpy.matmul(U[k], V[k], out=M[k])
        _output_transform(M, AT, bias, TH, TW, y, n0)
    return y


def winograd_conv2d_backward(gy, x, weight, PH, PW, need_gx, need_gweight,
                             tile=WINOGRAD_TILE):
    """gy (N, OC, OH, OW) -> (gx (N, C, H, W), gweight (OC, C, 3, 3)), None where
    not needed; the forward's arguments otherwise, all C-contiguous."""
    N, C, H, W = x.shape
    OC = weight.shape[0]
    OH, OW = gy.shape[2], gy.shape[3]
    gx = gweight = None
    if need_gx:
        # the transposed convolution: flipped in (i, j), c and o swapped -> (C, OC, 3, 3)
        weight_t = numpy.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gx = winograd_conv2d_forward(gy, weight_t, numpy.zeros(C, dtype=x.dtype),
                                     2 - PH, 2 - PW, tile)
    if need_gweight:
        TH, TW = winograd_tiles(OH, OW, tile)
        T = TH * TW
        alpha2 = (tile + 2) ** 2
        BT, G, AT = winograd_matrices(tile, x.dtype)
        nb = _chunk(N, C, OC, TH, TW, tile, x.itemsize)
        V_buf = scratch("winograd_tiles", alpha2 * C * nb * T, x.dtype)
        dM_buf = scratch("winograd_products", alpha2 * OC * nb * T, x.dtype)
        dU = numpy.zeros((alpha2, OC, C), dtype=x.dtype)
        use_threads_for(alpha2 * (C + OC) * nb * T)
        for n0 in range(0, N, nb):
            b = min(nb, N - n0)
            V = V_buf[:alpha2 * C * b * T].reshape(alpha2, C, b * T)
            dM = dM_buf[:alpha2 * OC * b * T].reshape(alpha2, OC, b * T)
            _input_transform(x, n0, PH, PW, TH, TW, BT, V)
            _output_transform_adjoint(gy, n0, AT, TH, TW, dM)
            for k in range(alpha2):  # (OC, b*T) @ (b*T, C): the sum over the chunk's tiles
                dU[k] += dM[k] @ V[k].T
        gweight = numpy.empty((OC, C, 3, 3), dtype=x.dtype)
        use_threads_for(alpha2 * OC * C)
        _filter_transform_adjoint(dU, G, gweight)
    return gx, gweight
