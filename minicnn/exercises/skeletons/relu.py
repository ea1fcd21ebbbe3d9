"""Exercise relu: the rectified linear unit.

    y = max(x, 0)          x, y: any shape

Check your work with ``minicnn exercise check relu``.
"""
import numpy as np  # noqa: F401  (you will need it)


def relu_forward(x):
    """y = max(x, 0), elementwise.

    Args:
        x: float64 array of any shape.
    Returns:
        y: float64, x's shape.
    """
    raise NotImplementedError("TODO: relu_forward: zero out the negative entries")


def relu_backward(gy, x):
    """gx = dL/dx given gy = dL/dy.

    Args:
        gy: float64, x's shape.
        x: the forward's input.
    Returns:
        gx: float64, x's shape.

    Hint: dy/dx is 1 where x > 0 and 0 where x < 0. At x == 0 the derivative
    does not exist; PyTorch (and minicnn) use 0 there.
    """
    raise NotImplementedError("TODO: relu_backward: let gy through where x > 0")
