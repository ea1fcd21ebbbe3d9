"""Exercise lrn (bonus): local response normalization across channels, PyTorch's convention.

For x (N, C, H, W), with a window of ``size`` channels around c
(``size // 2`` before c, ``(size - 1) // 2`` after, zero outside the channels):

    scale[n, c] = k + alpha / size * sum_{c' in window(c)} x[n, c']^2
    y[n, c]     = x[n, c] * scale[n, c] ** (-beta)

Check your work with ``minicnn exercise check lrn``.
"""
import numpy as np  # noqa: F401  (you will need it)


def lrn_forward(x, size, alpha, beta, k):
    """Divide each activation by a power of its neighbouring channels' energy.

    Args:
        x: (N, C, H, W) float64.
        size: int >= 1, channels in the window.
        alpha, beta, k: floats (AlexNet: size 5, alpha 1e-4, beta 0.75, k 2).
    Returns:
        y: (N, C, H, W) float64.
    """
    raise NotImplementedError("TODO: lrn_forward: window sums of x^2, then the power")


def lrn_backward(gy, x, size, alpha, beta, k):
    """gx = dL/dx given gy = dL/dy.

    Args:
        gy: (N, C, H, W) float64.
        x, size, alpha, beta, k: the forward's arguments.
    Returns:
        gx: (N, C, H, W) float64.

    Hint: x[c] appears in its own y[c] and, through scale, in every y[i]
    whose window holds c:
        gx[c] = gy[c] * scale[c]^-beta
                - 2 * alpha * beta / size * x[c] * sum_{i: c in window(i)} gy[i] * y[i] / scale[i]
    The channels i whose window holds c form the same window, mirrored.
    """
    raise NotImplementedError("TODO: lrn_backward: the direct term and the window term")
