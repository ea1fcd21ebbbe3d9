"""Exercise conv_naive: 2-D convolution with loops (cross-correlation, as every framework).

    x: (N, C, H, W)    w: (OC, C, KH, KW)    b: (OC,)    y: (N, OC, OH, OW)
    OH = (H + 2*padding - KH) // stride + 1,  OW = (W + 2*padding - KW) // stride + 1

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * xpad[n, c, i*stride + p, j*stride + q]

where xpad is x with ``padding`` rows/columns of zeros on every side. Loops are
fine; vectorize the inner ones (over N, C, OC) if you want ``minicnn exercise
plug conv_naive`` to train quickly.

Check your work with ``minicnn exercise check conv_naive``.
"""
import numpy as np  # noqa: F401  (you will need it)


def conv2d_forward(x, w, b, stride, padding):
    """The convolution's output.

    Args:
        x: (N, C, H, W) float64.
        w: (OC, C, KH, KW) float64.
        b: (OC,) float64.
        stride: int >= 1, the same for rows and columns.
        padding: int >= 0, zeros added on every side.
    Returns:
        y: (N, OC, OH, OW) float64.
    """
    raise NotImplementedError("TODO: conv2d_forward: pad x, then slide the filters")


def conv2d_backward(gy, x, w, b, stride, padding):
    """Gradients with respect to x, w and b, given gy = dL/dy.

    Args:
        gy: (N, OC, OH, OW) float64.
        x, w, b, stride, padding: the forward's arguments.
    Returns:
        (gx (N, C, H, W), gw (OC, C, KH, KW), gb (OC,)).

    Hint: run the forward's loops again; where the forward did
    ``y[..., i, j] += w * window`` the backward does ``gw += gy[..., i, j] * window``
    and ``gxpad[window] += gy[..., i, j] * w``. Accumulate into a padded gx
    and cut the padding off at the end. gb sums gy over N, OH and OW.
    """
    raise NotImplementedError("TODO: conv2d_backward: gx, gw, gb from gy")
