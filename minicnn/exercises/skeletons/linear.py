"""Exercise linear: the fully connected layer, forward and backward.

    y = x w^T + b          x: (N, D)   w: (M, D)   b: (M,)   y: (N, M)

Check your work with ``minicnn exercise check linear``.
"""
import numpy as np  # noqa: F401  (you will need it)


def linear_forward(x, w, b):
    """y[n, m] = sum_d x[n, d] * w[m, d] + b[m].

    Args:
        x: (N, D) float64, a batch of N inputs.
        w: (M, D) float64, one row of weights per output.
        b: (M,) float64.
    Returns:
        y: (N, M) float64.
    """
    raise NotImplementedError("TODO: linear_forward: one matrix product and a broadcast add")


def linear_backward(gy, x, w, b):
    """Gradients of the loss with respect to x, w and b, given gy = dL/dy.

    Args:
        gy: (N, M) float64, the upstream gradient.
        x, w, b: the forward's inputs.
    Returns:
        (gx (N, D), gw (M, D), gb (M,)), each shaped like its input.

    Hint: write y[n, m] = sum_d x[n, d] w[m, d] + b[m] and differentiate one
    entry; then check each gradient's shape: gw must be (M, D), like w.
    Every sample of the batch contributes to gw and gb: sum over n (do not
    average: the loss already did that, if it wanted to).
    """
    raise NotImplementedError("TODO: linear_backward: gx, gw, gb from gy")
