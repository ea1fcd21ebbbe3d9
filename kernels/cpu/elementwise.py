"""ReLU, add-ReLU and dropout as Numba kernels (CPU): one pass over flat, contiguous arrays.

    relu:     y = max(x, 0)                  gx = gy * [y > 0]
    relu_inplace: x = max(x, 0), written into x itself
    add_relu: y = max(a + b, 0)              ga = gb = gy * [y > 0]  (relu_backward)
    dropout:  mask = [u >= p] / (1 - p)      y = x * mask

The uniform draws ``u`` come from the op (``minicnn.rng``), so every backend
drops the same units. NaN passes through ReLU as NaN, as in torch and
numpy.maximum.
"""
import numpy
from numba import njit, prange

from minicnn.backend import register_kernel

from ._threads import use_threads_for

__all__ = ["relu_forward", "relu_backward", "relu_inplace", "add_relu_forward",
           "dropout_forward"]


@njit(cache=True, parallel=True)
def _relu_fwd(x, y):
    """x, y: (size,)."""
    for i in prange(x.shape[0]):
        v = x[i]
        # 'not (v <= 0)' keeps NaN, which compares False with everything
        y[i] = v if not (v <= 0) else 0


@njit(cache=True, parallel=True)
def _add_relu_fwd(a, b, y):
    """a, b, y: (size,)."""
    for i in prange(a.shape[0]):
        v = a[i] + b[i]
        y[i] = v if not (v <= 0) else 0


@njit(cache=True, parallel=True)
def _relu_bwd(gy, y, gx):
    """gy, y, gx: (size,)."""
    for i in prange(gy.shape[0]):
        gx[i] = gy[i] if y[i] > 0 else 0


@njit(cache=True)
def _dropout_fwd(x, u, p, keep_scale, y, mask):
    """x, u, y, mask: (size,); keep_scale = 1 / (1 - p) in x's dtype."""
    for i in range(x.shape[0]):
        m = keep_scale if u[i] >= p else 0
        mask[i] = m
        y[i] = x[i] * mask[i]


def _flat(a):
    """Any shape -> contiguous (size,) view or copy."""
    return numpy.ascontiguousarray(a).reshape(-1)


@register_kernel("numba", "relu_forward")
def relu_forward(x):
    """x (any shape) -> y = max(x, 0)."""
    y = numpy.empty(x.size, dtype=x.dtype)
    use_threads_for(x.size)
    _relu_fwd(_flat(x), y)
    return y.reshape(x.shape)


@register_kernel("numba", "relu_backward")
def relu_backward(gy, y):
    """gy, y (same shape) -> gx = gy where y > 0, else 0."""
    gx = numpy.empty(gy.size, dtype=gy.dtype)
    use_threads_for(gy.size)
    _relu_bwd(_flat(gy), _flat(y), gx)
    return gx.reshape(gy.shape)


@register_kernel("numba", "relu_inplace")
def relu_inplace(x):
    """x (any shape) <- max(x, 0), in place; returns x."""
    if not x.flags.c_contiguous:   # no flat view to write through
        numpy.maximum(x, 0, out=x)
        return x
    use_threads_for(x.size)
    flat = x.reshape(-1)
    _relu_fwd(flat, flat)
    return x


@register_kernel("numba", "add_relu_forward")
def add_relu_forward(a, b):
    """a, b (same shape and dtype) -> y = max(a + b, 0)."""
    y = numpy.empty(a.size, dtype=a.dtype)
    use_threads_for(a.size)
    _add_relu_fwd(_flat(a), _flat(b), y)
    return y.reshape(a.shape)


@register_kernel("numba", "dropout_forward")
def dropout_forward(x, u, p):
    """x, u (same shape), p in [0, 1) -> (y, mask), mask = [u >= p] / (1 - p) in x's dtype."""
    # p = 1 drops everything: the mask is 0, not 0/0
    keep_scale = x.dtype.type(1) / x.dtype.type(1 - p) if p < 1 else x.dtype.type(0)
    y = numpy.empty(x.size, dtype=x.dtype)
    mask = numpy.empty(x.size, dtype=x.dtype)
    _dropout_fwd(_flat(x), _flat(u), float(p), keep_scale, y, mask)
    return y.reshape(x.shape), mask.reshape(x.shape)
