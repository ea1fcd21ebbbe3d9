"""Solution of exercise batch_norm."""
import numpy as np


def batch_norm_forward(x, gamma, beta, eps):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    s = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * s
    y = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    return y, (xhat, s, gamma)


def batch_norm_backward(gy, cache):
    xhat, s, gamma = cache
    M = gy.shape[0] * gy.shape[2] * gy.shape[3]
    gbeta = gy.sum(axis=(0, 2, 3))
    ggamma = (gy * xhat).sum(axis=(0, 2, 3))
    g = gy * gamma[None, :, None, None]
    gx = s / M * (M * g - g.sum(axis=(0, 2, 3), keepdims=True)
                  - xhat * (g * xhat).sum(axis=(0, 2, 3), keepdims=True))
    return gx, ggamma, gbeta
