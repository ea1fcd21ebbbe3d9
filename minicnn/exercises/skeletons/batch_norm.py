"""Exercise batch_norm: batch normalization in training mode (Ioffe & Szegedy, 2015).

Per channel c, over the M = N*H*W values of the batch:

    mean_c = 1/M sum x            var_c = 1/M sum (x - mean_c)^2     (biased: 1/M)
    xhat   = (x - mean_c) / sqrt(var_c + eps)
    y      = gamma_c * xhat + beta_c

Check your work with ``minicnn exercise check batch_norm``.
"""
import numpy as np  # noqa: F401  (you will need it)


def batch_norm_forward(x, gamma, beta, eps):
    """Normalize each channel with the batch's statistics.

    Args:
        x: (N, C, H, W) float64.
        gamma, beta: (C,) float64, the learned scale and shift.
        eps: a small float added to the variance.
    Returns:
        (y, cache): y (N, C, H, W) float64; cache anything you like (a tuple
        of arrays, a dict): it is handed back to batch_norm_backward as is.
    """
    raise NotImplementedError("TODO: batch_norm_forward: mean, var, xhat, y per channel")


def batch_norm_backward(gy, cache):
    """Gradients with respect to x, gamma and beta, given gy = dL/dy.

    Args:
        gy: (N, C, H, W) float64.
        cache: what batch_norm_forward returned.
    Returns:
        (gx (N, C, H, W), ggamma (C,), gbeta (C,)).

    Hint: gbeta and ggamma are sums over N, H, W. x reaches y three ways:
    directly, through the mean and through the variance, so with
    s = 1/sqrt(var + eps) and g = gamma * gy,
        gx = s/M * (M*g - sum(g) - xhat * sum(g * xhat))      (sums per channel)
    """
    raise NotImplementedError("TODO: batch_norm_backward: gx, ggamma, gbeta")
