"""Exercise max_pool: 2-D max pooling without padding.

    x: (N, C, H, W)  ->  y: (N, C, OH, OW)
    OH = (H - kernel) // stride + 1  (OW likewise)
    y[n, c, i, j] = max over the window x[n, c, i*stride : i*stride + kernel,
                                             j*stride : j*stride + kernel]

Check your work with ``minicnn exercise check max_pool``.
"""
import numpy as np  # noqa: F401  (you will need it)


def max_pool_forward(x, kernel, stride):
    """The maximum of every kernel x kernel window.

    Args:
        x: (N, C, H, W) float64.
        kernel: int >= 1, the window's side.
        stride: int >= 1, the step between windows.
    Returns:
        y: (N, C, OH, OW) float64.
    """
    raise NotImplementedError("TODO: max_pool_forward: the max of each window")


def max_pool_backward(gy, x, kernel, stride):
    """gx = dL/dx given gy = dL/dy.

    Args:
        gy: (N, C, OH, OW) float64.
        x, kernel, stride: the forward's arguments.
    Returns:
        gx: (N, C, H, W) float64.

    Hint: each window passes its gradient to the one pixel that was its
    maximum; the others get 0. When several pixels tie for the maximum, only
    the FIRST in row-major window order (top row first, left to right) gets
    it, as in minicnn and PyTorch; ``argmax`` of the flattened window finds
    exactly that one. Windows overlap when stride < kernel: add, do not assign.
    """
    raise NotImplementedError("TODO: max_pool_backward: route gy to each window's argmax")
