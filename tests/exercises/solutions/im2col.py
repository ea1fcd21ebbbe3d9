"""Solution of exercise im2col: loops over the kernel taps, each a strided slice."""
import numpy as np


def im2col(x, kh, kw, stride, padding):
    N, C, H, W = x.shape
    OH = (H + 2 * padding - kh) // stride + 1
    OW = (W + 2 * padding - kw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((N, C, kh, kw, OH, OW))
    for p in range(kh):
        for q in range(kw):
            cols[:, :, p, q] = xpad[:, :, p:p + stride * OH:stride, q:q + stride * OW:stride]
    return cols.reshape(N, C * kh * kw, OH * OW)


def col2im(cols, x_shape, kh, kw, stride, padding):
    N, C, H, W = x_shape
    OH = (H + 2 * padding - kh) // stride + 1
    OW = (W + 2 * padding - kw) // stride + 1
    cols = cols.reshape(N, C, kh, kw, OH, OW)
    xpad = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for p in range(kh):
        for q in range(kw):
            xpad[:, :, p:p + stride * OH:stride, q:q + stride * OW:stride] += cols[:, :, p, q]
    return xpad[:, :, padding:padding + H, padding:padding + W]
