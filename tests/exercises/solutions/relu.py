"""Solution of exercise relu."""
import numpy as np


def relu_forward(x):
    return np.maximum(x, 0.0)


def relu_backward(gy, x):
    return gy * (x > 0)
