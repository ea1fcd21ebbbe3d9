"""Solution of exercise max_pool: loops over the output pixels, argmax per window."""
import numpy as np


def max_pool_forward(x, kernel, stride):
    N, C, H, W = x.shape
    OH = (H - kernel) // stride + 1
    OW = (W - kernel) // stride + 1
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            y[:, :, i, j] = window.max(axis=(2, 3))
    return y


def max_pool_backward(gy, x, kernel, stride):
    N, C, H, W = x.shape
    OH, OW = gy.shape[2:]
    gx = np.zeros_like(x)
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(OH):
        for j in range(OW):
            window = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            first = window.reshape(N, C, -1).argmax(axis=2)       # the first maximum
            p, q = np.divmod(first, kernel)
            gx[n, c, i * stride + p, j * stride + q] += gy[:, :, i, j]
    return gx
