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

Blocking. One axpy per tap loads and stores every accumulator once per
multiply-add, so the loops take several of each at a time. The forward pass
(and gx, the same loop) accumulates OUT_BLOCK output channels at once, over a
strip of output rows short enough that the accumulators stay in L1, and
streams TAP_BLOCK taps past them per pass: each input value loaded feeds
OUT_BLOCK multiply-adds, each accumulator loaded and stored TAP_BLOCK. The
weight gradient computes two output channels' dot products with GRAD_TAP_BLOCK
shifted planes in one pass over gy. See benchmarks/RESULTS.md ("numba conv2d:
direct or im2col") for what this buys over one channel at a time.

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

# Block sizes of the loops below, whose bodies are written out for exactly
# these values (four accumulator rows, three or four shifted input rows).
# Forward and gx (_correlate_wide): OUT_BLOCK output channels' accumulators
# over a strip of output rows stay in L1 while TAP_BLOCK taps at a time stream
# past, so each accumulator load and store carries TAP_BLOCK multiply-adds and
# each input load OUT_BLOCK (the loop before took one channel, four taps).
# A strip holds at most STRIP_PIXELS wide pixels per channel (whole rows; one
# row if a row is longer): 4 * 2048 float32 accumulators are 32 KiB, an L1
# data cache. The size was picked by measurement (benchmarks/RESULTS.md,
# "numba conv2d: direct or im2col").
OUT_BLOCK = 4
TAP_BLOCK = 3
STRIP_PIXELS = 2048
# gweight (_weight_grad_wide): two output channels by GRAD_TAP_BLOCK taps,
# eight dot products per pass, six loads for eight multiply-adds.
GRAD_TAP_BLOCK = 4


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


@njit(cache=True)
def _weights_by_tap(weight_flat, o0, zero):
    """wb[t, q] = weight_flat[o0 + q, t] for the OUT_BLOCK channels from o0, zero past the last.

    weight_flat: (O, T); wb: (T, OUT_BLOCK), so one tap's block of weights is one row.
    """
    O, T = weight_flat.shape
    wb = numpy.full((T, OUT_BLOCK), zero)
    for t in range(T):
        for q in range(min(OUT_BLOCK, O - o0)):
            wb[t, q] = weight_flat[o0 + q, t]
    return wb


@njit(cache=True, parallel=True, fastmath=_FAST)
def _correlate_wide(x_pad, weight, bias, Wp, DH, DW, strip_rows, y):
    """y[n, o] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x_pad[n, c, k + i*DH*Wp + j*DW],
    kept for ow < OW.

    x_pad: (N, C, Hp*Wp + tail) wide padded planes; weight: (O, C, KH, KW); bias: (O,);
    y: (N, O, OH, OW). One parallel iteration per (image, block of OUT_BLOCK
    output channels, strip of ``strip_rows`` output rows). Its accumulators,
    acc (OUT_BLOCK, strip_rows*Wp), stay in L1 while every tap streams past:
    a pass over the strip takes TAP_BLOCK taps, so each accumulator load and
    store carries TAP_BLOCK multiply-adds and each input load OUT_BLOCK.
    Channels past O in the last block get zero weights and are not written.
    """
    N, C, plane = x_pad.shape
    O, KH, KW = weight.shape[0], weight.shape[2], weight.shape[3]
    OH, OW = y.shape[2], y.shape[3]
    T = C * KH * KW
    offs = _tap_offsets(C, plane, KH, KW, Wp, DH, DW)
    weight_flat = weight.reshape(O, T)  # (O, C, KH, KW) -> (O, C*KH*KW), the order of offs
    zero = numpy.zeros(1, dtype=y.dtype)[0]
    blocks = (O + OUT_BLOCK - 1) // OUT_BLOCK
    strips = (OH + strip_rows - 1) // strip_rows
    for p in prange(N * blocks * strips):
        n = p // (blocks * strips)
        o0 = (p // strips) % blocks * OUT_BLOCK
        r0 = p % strips * strip_rows
        ob = min(OUT_BLOCK, O - o0)
        rows = min(strip_rows, OH - r0)
        k0 = r0 * Wp  # the strip is wide pixels [k0, k0 + S) of each plane
        S = rows * Wp
        src = x_pad[n].reshape(C * plane)[k0:]
        wb = _weights_by_tap(weight_flat, o0, zero)
        acc = numpy.empty((OUT_BLOCK, S), dtype=y.dtype)
        for q in range(OUT_BLOCK):
            acc[q, :] = bias[o0 + q] if q < ob else zero
        a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
        t = 0
        while t + TAP_BLOCK <= T:
            s0 = src[offs[t]:offs[t] + S]  # views; indexing them by k >= 0 vectorizes
            s1 = src[offs[t + 1]:offs[t + 1] + S]
            s2 = src[offs[t + 2]:offs[t + 2] + S]
            w0, w1, w2 = wb[t], wb[t + 1], wb[t + 2]
            w00, w01, w02, w03 = w0[0], w0[1], w0[2], w0[3]
            w10, w11, w12, w13 = w1[0], w1[1], w1[2], w1[3]
            w20, w21, w22, w23 = w2[0], w2[1], w2[2], w2[3]
            for k in range(S):
                v0, v1, v2 = s0[k], s1[k], s2[k]
                a0[k] += w00 * v0 + w10 * v1 + w20 * v2
                a1[k] += w01 * v0 + w11 * v1 + w21 * v2
                a2[k] += w02 * v0 + w12 * v1 + w22 * v2
                a3[k] += w03 * v0 + w13 * v1 + w23 * v2
            t += TAP_BLOCK
        while t < T:
            s0 = src[offs[t]:offs[t] + S]
            w00, w01, w02, w03 = wb[t, 0], wb[t, 1], wb[t, 2], wb[t, 3]
            for k in range(S):
                v0 = s0[k]
                a0[k] += w00 * v0
                a1[k] += w01 * v0
                a2[k] += w02 * v0
                a3[k] += w03 * v0
            t += 1
        for q in range(ob):
            for r in range(rows):
                y[n, o0 + q, r0 + r, :] = acc[q, r * Wp:r * Wp + OW]


@njit(cache=True, parallel=True)
def _gy_wide(gy, Wp, gyw):
    """gyw[n, o, oh*Wp + ow] = gy[n, o, oh, ow], zero for ow >= OW (the wide columns).

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
    One parallel iteration per (pair of output channels, input channel); the
    image loop is outermost so the three planes it reads stay in L1 across
    all KH*KW taps. A pass over the plane takes GRAD_TAP_BLOCK taps of both
    channels of the pair: 2*GRAD_TAP_BLOCK dot products, each load of gyw or
    x_pad feeding two to four of them. Each image's dot products run in the
    input's dtype, at full vector width; the sum over images is kept in
    float64. An odd O's last pair reads its one channel twice and keeps one.
    """
    N, C, plane = x_pad.shape
    O, KH, KW = gweight.shape[0], gweight.shape[2], gweight.shape[3]
    M = gyw.shape[2]
    T = KH * KW
    offs = _tap_offsets(1, plane, KH, KW, Wp, DH, DW)  # taps within one plane
    pairs = (O + 1) // 2
    zero = numpy.zeros(1, dtype=gyw.dtype)[0]
    for p in prange(pairs * C):
        o0 = p // C * 2
        o1 = min(o0 + 1, O - 1)
        c = p % C
        s = numpy.zeros((2, T), dtype=numpy.float64)
        for n in range(N):
            g0, g1 = gyw[n, o0], gyw[n, o1]
            src = x_pad[n, c]
            t = 0
            while t + GRAD_TAP_BLOCK <= T:
                s0 = src[offs[t]:offs[t] + M]
                s1 = src[offs[t + 1]:offs[t + 1] + M]
                s2 = src[offs[t + 2]:offs[t + 2] + M]
                s3 = src[offs[t + 3]:offs[t + 3] + M]
                a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = zero
                for k in range(M):
                    u0, u1 = g0[k], g1[k]
                    v0, v1, v2, v3 = s0[k], s1[k], s2[k], s3[k]
                    a00 += u0 * v0
                    a01 += u0 * v1
                    a02 += u0 * v2
                    a03 += u0 * v3
                    a10 += u1 * v0
                    a11 += u1 * v1
                    a12 += u1 * v2
                    a13 += u1 * v3
                s[0, t] += a00
                s[0, t + 1] += a01
                s[0, t + 2] += a02
                s[0, t + 3] += a03
                s[1, t] += a10
                s[1, t + 1] += a11
                s[1, t + 2] += a12
                s[1, t + 3] += a13
                t += GRAD_TAP_BLOCK
            while t < T:
                s0 = src[offs[t]:offs[t] + M]
                a00 = a10 = zero
                for k in range(M):
                    v0 = s0[k]
                    a00 += g0[k] * v0
                    a10 += g1[k] * v0
                s[0, t] += a00
                s[1, t] += a10
                t += 1
        for t in range(T):
            gweight[o0, c, t // KW, t % KW] = s[0, t]
            if o1 != o0:
                gweight[o1, c, t // KW, t % KW] = s[1, t]


def _padded_wide(x, PH, PW, KW, DW):
    """x (N, C, H, W) -> its padded planes, flattened with DW*(KW-1) spare zeros."""
    N, C, H, W = x.shape
    tail = DW * (KW - 1)
    x_pad = numpy.empty((N, C, (H + 2 * PH) * (W + 2 * PW) + tail), dtype=x.dtype)
    _pad_wide(x, PH, PW, tail, x_pad)
    return x_pad


def _strip_rows(OH, Wp, strip_pixels):
    """Output rows per strip of ``_correlate_wide``: whole rows of Wp wide pixels, at
    most ``strip_pixels`` of them (never fewer than one row), the OH rows split
    into strips of near-equal height (56 rows of 58 in 2048 pixels: 28 and 28,
    not 35 and 21)."""
    most = max(1, strip_pixels // Wp)
    strips = -(-OH // most)
    return -(-OH // strips)


def direct_conv2d_forward(x, weight, bias, PH, PW, DH, DW, strip_pixels=STRIP_PIXELS):
    """x (N, C, H, W), weight (OC, C, KH, KW), bias (OC,) -> y (N, OC, OH, OW);
    stride 1, groups 1. ``strip_pixels`` bounds a strip (tests make it small to
    cut planes into many strips)."""
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    OH, OW = conv_output_hw(H, W, KH, KW, 1, 1, PH, PW, DH, DW)
    use_threads_for(N * OC * OH * OW * C * KH * KW)
    x_pad = _padded_wide(x, PH, PW, KW, DW)
    y = numpy.empty((N, OC, OH, OW), dtype=x.dtype)
    Wp = W + 2 * PW
    _correlate_wide(x_pad, weight, bias, Wp, DH, DW, _strip_rows(OH, Wp, strip_pixels), y)
    return y


def direct_conv2d_backward(gy, x, weight, PH, PW, DH, DW, need_gx, need_gweight,
                           strip_pixels=STRIP_PIXELS):
    """gy (N, OC, OH, OW) -> (gx (N, C, H, W) or None, gweight (OC, C, KH, KW) or None);
    ``strip_pixels`` as in ``direct_conv2d_forward`` (for the gx pass)."""
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
        Wq = OW + 2 * QW
        _correlate_wide(gy_pad, weight_t, numpy.zeros(C, dtype=gy.dtype), Wq, DH, DW,
                        _strip_rows(H, Wq, strip_pixels), gx)
    return gx, gweight
