"""Solution of exercise linear."""
import numpy as np  # noqa: F401


def linear_forward(x, w, b):
    return x @ w.T + b                          # (N, D) @ (D, M) + (M,) -> (N, M)


def linear_backward(gy, x, w, b):
    gx = gy @ w                                 # (N, M) @ (M, D) -> (N, D)
    gw = gy.T @ x                               # (M, N) @ (N, D) -> (M, D)
    gb = gy.sum(axis=0)                         # (M,)
    return gx, gw, gb
