"""Solution of exercise conv_naive: loops over the output pixels, vectorized over N, C, OC."""
import numpy as np


def conv2d_forward(x, w, b, stride, padding):
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.empty((N, OC, OH, OW))
    for i in range(OH):
        for j in range(OW):
            window = xpad[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
            # (N, C, KH, KW) x (OC, C, KH, KW) -> (N, OC)
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b[None, :, None, None]


def conv2d_backward(gy, x, w, b, stride, padding):
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    OH, OW = gy.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    gxpad = np.zeros_like(xpad)
    gw = np.zeros_like(w)
    for i in range(OH):
        for j in range(OW):
            rows = slice(i * stride, i * stride + KH)
            cols = slice(j * stride, j * stride + KW)
            g = gy[:, :, i, j]                                       # (N, OC)
            gw += np.tensordot(g, xpad[:, :, rows, cols], axes=([0], [0]))
            gxpad[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
    gx = gxpad[:, :, padding:padding + H, padding:padding + W]
    gb = gy.sum(axis=(0, 2, 3))
    return gx, gw, gb
