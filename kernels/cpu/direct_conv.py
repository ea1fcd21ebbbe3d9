"""Direct convolution (no column matrix) for small stride-1 layers, CPU.

im2col pays for itself when the GEMM it feeds is large. On a layer such as
LeNet-5's conv2 (6 -> 16 channels, 5x5, 14x14) the GEMM is tiny and most of
the time goes to writing and reading back a column matrix 25 times the size of
the image. Here each output plane is accumulated straight from the padded
input instead, one filter tap at a time.

The "wide row" trick keeps the inner loop long and contiguous. Pad the input
to planes of Hp x Wp and flatten them. With stride 1, output pixel (oh, ow)
reads input pixels (oh + i*DH, ow + j*DW), at flat index

    (oh + i*DH)*Wp + ow + j*DW = k + off(i, j),  k = oh*Wp + ow,  off = i*DH*Wp + j*DW

so for one tap (i, j) the whole output plane is one axpy over k in [0, OH*Wp):

    acc[k] += weight[o, c, i, j] * x_pad[n, c, k + off(i, j)]

Entries with ow >= OW ("wide" columns) are computed and thrown away; they
cost (Wp - OW)/Wp of the work and buy a loop numba vectorizes fully. Each
flattened plane gets DW*(KW - 1) extra zeros at its end, so that the last
wide row's reads stay inside the array.

Notation::

    x: (N, C, H, W)  weight: (OC, C, KH, KW)  stride 1, groups 1, 0 <= P <= D*(K-1)
    Hp = H + 2*PH, Wp = W + 2*PW, OH = Hp - DH*(KH-1), OW = Wp - DW*(KW-1), M = OH*Wp

    forward   y[n, o] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * shift(x_pad[n, c], off(i, j))
    gweight   gweight[o,c,i,j] = sum_n dot(gyw[n, o], shift(x_pad[n, c], off(i, j)))
              (gyw is gy in the wide layout, zero in the wide columns, so the
               thrown-away outputs contribute nothing)
    gx        the transposed convolution: pad gy by Q = D*(K-1) - P on each side
              and correlate it with weight flipped in (i, j) and with c and o swapped:
              gx[n, c, h, w] = sum_{o,i,j} weight[o,c,i,j] * gy[n, o, h + P - i*D, w + P - j*D]
              (substitute i' = KH-1-i: gy row h + i'*D - Q of the padded gy)

The kernels use ``fastmath={'reassoc', 'contract'}`` so LLVM may reorder the
sums into vector lanes and fuse multiply-adds. No flag lets it assume there
are no NaNs or infinities, so a NaN in the input still reaches every output
that reads it.
"""
import numpy
from numba import njit, prange

from minicnn.functional._geometry import conv_output_hw, conv_output_size

from ._threads import use_threads_for

__all__ = ["direct_conv_applies", "direct_conv_cost", "direct_conv_pays", "direct_conv2d_forward",
           "direct_conv2d_backward", "DIRECT_BELOW"]

_FAST = {"reassoc", "contract"}

# The GEMM of im2col beats the direct loops once it has enough rows and depth
# to reuse what it loads. Below this many multiply-adds per output pixel
# (C*KH*KW*OC, times Wp/OW for the wide columns) the direct kernels were
# faster on the layers measured in benchmarks/RESULTS.md ("numba conv2d: direct
# or im2col"); above it im2col won or tied.
DIRECT_BELOW = 16384


def direct_conv_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups) -> bool:
    """True when the direct kernels can compute this layer: stride 1, one group,
    0 <= padding <= the dilated kernel's reach, and not 1x1 (already a plain GEMM)."""
    if groups != 1 or SH != 1 or SW != 1 or (KH == 1 and KW == 1):
        return False
    return 0 <= PH <= DH * (KH - 1) and 0 <= PW <= DW * (KW - 1)


def direct_conv_cost(C, OC, W, KH, KW, PW, DW) -> float:
    """The direct kernels' work per output pixel: the multiply-adds C*KH*KW*OC,
    scaled by Wp/OW for the wide columns computed and thrown away."""
    Wp = W + 2 * PW
    return C * KH * KW * OC * Wp / conv_output_size(W, KW, 1, PW, DW)


def direct_conv_pays(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups) -> bool:
    """True when the direct kernels apply to this layer and beat im2col + GEMM:
    their cost (``direct_conv_cost``) is below DIRECT_BELOW."""
    if not direct_conv_applies(KH, KW, SH, SW, PH, PW, DH, DW, groups):
        return False
    return direct_conv_cost(C, OC, W, KH, KW, PW, DW) < DIRECT_BELOW


@njit(cache=True, parallel=True)
def _pad_wide(x, PH, PW, tail, x_pad):
    """x_pad[n, c] = x[n, c] zero-padded by (PH, PW), flattened, plus ``tail`` zeros.

    x: (N, C, H, W); x_pad: (N, C, (H + 2PH)*(W + 2PW) + tail).
    """
    N, C, H, W = x.shape
    Wp = W + 2 * PW
    for p in prange(N * C):
        n = p // C
        c = p % C
        x_pad[n, c, :] = 0
        for h in range(H):
            base = (h + PH) * Wp + PW
            x_pad[n, c, base:base + W] = x[n, c, h]


@njit(cache=True)
def _tap_offsets(C, plane, KH, KW, Wp, DH, DW):
    """offs[(c*KH + i)*KW + j] = c*plane + i*DH*Wp + j*DW: where tap (c, i, j) starts
    in an image's flattened padded planes (the order of weight[o].ravel())."""
    offs = numpy.empty(C * KH * KW, dtype=numpy.int64)
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                offs[(c * KH + i) * KW + j] = c * plane + i * DH * Wp + j * DW
    return offs


@njit(cache=True, parallel=True, fastmath=_FAST)
def _correlate_wide(x_pad, weight, bias, Wp, DH, DW, y):
    """y[n, o] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x_pad[n, c, k + i*DH*Wp + j*DW],
    kept for ow < OW.

    x_pad: (N, C, Hp*Wp + tail) wide padded planes; weight: (O, C, KH, KW); bias: (O,);
    y: (N, O, OH, OW). One parallel iteration per output plane (n, o).
    Taps are taken four at a time: one pass over acc then does four
    multiply-adds per load and store of acc instead of one.
    """
    N, C, plane = x_pad.shape
    O, KH, KW = weight.shape[0], weight.shape[2], weight.shape[3]
    OH, OW = y.shape[2], y.shape[3]
    M = OH * Wp
    T = C * KH * KW
    offs = _tap_offsets(C, plane, KH, KW, Wp, DH, DW)
    weight_flat = weight.reshape(O, T)  # (O, C, KH, KW) -> (O, C*KH*KW), the order of offs
    for p in prange(N * O):
        n = p // O
        o = p % O
        src = x_pad[n].reshape(C * plane)
        wo = weight_flat[o]
        acc = numpy.full(M, bias[o], dtype=y.dtype)
        t = 0
        while t + 4 <= T:
            w0, w1, w2, w3 = wo[t], wo[t + 1], wo[t + 2], wo[t + 3]
            s0 = src[offs[t]:offs[t] + M]  # views; indexing them by k >= 0 vectorizes
            s1 = src[offs[t + 1]:offs[t + 1] + M]
            s2 = src[offs[t + 2]:offs[t + 2] + M]
            s3 = src[offs[t + 3]:offs[t + 3] + M]
            for k in range(M):
                acc[k] += w0 * s0[k] + w1 * s1[k] + w2 * s2[k] + w3 * s3[k]
            t += 4
        while t < T:
            wv = wo[t]
            s0 = src[offs[t]:offs[t] + M]
            for k in range(M):
                acc[k] += wv * s0[k]
            t += 1
        for oh in range(OH):
            y[n, o, oh, :] = acc[oh * Wp:oh * Wp + OW]


@njit(cache=True, parallel=True)
def _gy_wide(gy, Wp, gyw):
    """gyw[n, o, oh*Wp + ow] = gy[n, o, oh, ow], zero for ow >= OW.

    gy: (N, O, OH, OW); gyw: (N, O, OH*Wp).
    """
    N, O, OH, OW = gy.shape
    for p in prange(N * O):
        n = p // O
        o = p % O
        gyw[n, o, :] = 0
        for oh in range(OH):
            gyw[n, o, oh * Wp:oh * Wp + OW] = gy[n, o, oh]


@njit(cache=True, parallel=True, fastmath=_FAST)
def _weight_grad_wide(x_pad, gyw, Wp, DH, DW, gweight):
    """gweight[o, c, i, j] = sum_n dot(gyw[n, o], x_pad[n, c, i*DH*Wp + j*DW :][:M]).

    x_pad: (N, C, Hp*Wp + tail); gyw: (N, O, M); gweight: (O, C, KH, KW).
    One parallel iteration per (o, c) pair; the image loop is outermost so the
    two planes it reads stay in L1 across all KH*KW taps, and four taps share
    each load of gyw. Each image's dot products run in the input's dtype, at
    full vector width; the sum over images is kept in float64.
    """
    N, C, plane = x_pad.shape
    O, KH, KW = gweight.shape[0], gweight.shape[2], gweight.shape[3]
    M = gyw.shape[2]
    T = KH * KW
    offs = _tap_offsets(1, plane, KH, KW, Wp, DH, DW)  # taps within one plane
    for p in prange(O * C):
        o = p // C
        c = p % C
        s = numpy.zeros(T, dtype=numpy.float64)
        zero = numpy.zeros(1, dtype=gyw.dtype)[0]
        for n in range(N):
            g = gyw[n, o]
            src = x_pad[n, c]
            t = 0
            while t + 4 <= T:
                s0 = src[offs[t]:offs[t] + M]
                s1 = src[offs[t + 1]:offs[t + 1] + M]
                s2 = src[offs[t + 2]:offs[t + 2] + M]
                s3 = src[offs[t + 3]:offs[t + 3] + M]
                a0 = a1 = a2 = a3 = zero
                for k in range(M):
                    gk = g[k]
                    a0 += gk * s0[k]
                    a1 += gk * s1[k]
                    a2 += gk * s2[k]
                    a3 += gk * s3[k]
                s[t] += a0
                s[t + 1] += a1
                s[t + 2] += a2
                s[t + 3] += a3
                t += 4
            while t < T:
                s0 = src[offs[t]:offs[t] + M]
                a0 = zero
                for k in range(M):
                    a0 += g[k] * s0[k]
                s[t] += a0
                t += 1
        for t in range(T):
            gweight[o, c, t // KW, t % KW] = s[t]


def _padded_wide(x, PH, PW, KW, DW):
    """x (N, C, H, W) -> its padded planes, flattened with DW*(KW-1) spare zeros."""
    N, C, H, W = x.shape
    tail = DW * (KW - 1)
    x_pad = numpy.empty((N, C, (H + 2 * PH) * (W + 2 * PW) + tail), dtype=x.dtype)
    _pad_wide(x, PH, PW, tail, x_pad)
    return x_pad


def direct_conv2d_forward(x, weight, bias, PH, PW, DH, DW):
    """x (N, C, H, W), weight (OC, C, KH, KW), bias (OC,) -> y (N, OC, OH, OW);
    stride 1, groups 1."""
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    OH, OW = conv_output_hw(H, W, KH, KW, 1, 1, PH, PW, DH, DW)
    use_threads_for(N * OC * OH * OW * C * KH * KW)
    x_pad = _padded_wide(x, PH, PW, KW, DW)
    y = numpy.empty((N, OC, OH, OW), dtype=x.dtype)
    _correlate_wide(x_pad, weight, bias, W + 2 * PW, DH, DW, y)
    return y


def direct_conv2d_backward(gy, x, weight, PH, PW, DH, DW, need_gx, need_gweight):
    """gy (N, OC, OH, OW) -> (gx (N, C, H, W) or None, gweight (OC, C, KH, KW) or None)."""
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    OH, OW = gy.shape[2], gy.shape[3]
    use_threads_for(N * OC * OH * OW * C * KH * KW)
    gx = gweight = None
    if need_gweight:
        Wp = W + 2 * PW
        x_pad = _padded_wide(x, PH, PW, KW, DW)
        gyw = numpy.empty((N, OC, OH * Wp), dtype=gy.dtype)
        _gy_wide(gy, Wp, gyw)
        gweight = numpy.empty(weight.shape, dtype=weight.dtype)
        _weight_grad_wide(x_pad, gyw, Wp, DH, DW, gweight)
    if need_gx:
        QH, QW = DH * (KH - 1) - PH, DW * (KW - 1) - PW
        # weight flipped in (i, j), in and out channels swapped: (C, OC, KH, KW)
        weight_t = numpy.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gy_pad = _padded_wide(gy, QH, QW, KW, DW)
        gx = numpy.empty((N, C, H, W), dtype=gy.dtype)
        _correlate_wide(gy_pad, weight_t, numpy.zeros(C, dtype=gy.dtype), OW + 2 * QW, DH, DW,
                        gx)
    return gx, gweight
