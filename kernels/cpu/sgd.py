"""The SGD-with-momentum update, in place, as a Numba kernel (CPU).

PyTorch's rule (torch.optim.SGD), with d = the gradient::

    d   = grad + weight_decay * param
    buf = d                                   on the first step
    buf = momentum * buf + (1 - dampening) * d   afterwards
    d   = d + momentum * buf   if nesterov   else   buf      (when momentum != 0)
    param -= lr * d

One serial pass over the flat parameter (memory-bound: threads gain little);
param and buf are written in place.
"""
import numpy
from numba import njit

from minicnn.backend import register_kernel

__all__ = ["sgd_step"]


@njit(cache=True)
def _sgd(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """param, grad: (size,); buf: (size,), or (0,) when momentum == 0."""
    for i in range(param.shape[0]):
        d = grad[i] + weight_decay * param[i] if weight_decay != 0 else grad[i]
        if momentum != 0:
            if first:
                b = d
            else:
                b = momentum * buf[i] + (1.0 - dampening) * d
            buf[i] = b
            if nesterov:
                d = d + momentum * buf[i]
            else:
                d = buf[i]
        param[i] = param[i] - lr * d


@register_kernel("numba", "sgd_step")
def sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """Update param (and buf, when momentum != 0) in place; returns None."""
    if not param.flags.c_contiguous:
        raise ValueError("sgd_step: param must be C-contiguous to be updated in place")
    p = param.reshape(-1)  # view of the same memory
    g = numpy.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)
    if buf is None:
        if momentum != 0:
            raise ValueError("sgd_step: momentum != 0 needs a momentum buffer, got None")
        b = numpy.empty(0, dtype=param.dtype)
    else:
        if not buf.flags.c_contiguous or buf.shape != param.shape:
            raise ValueError(f"sgd_step: buf must be C-contiguous with param's shape "
                             f"{param.shape}, got {buf.shape}")
        b = buf.reshape(-1)
    _sgd(p, g, b, float(lr), float(momentum), float(dampening), float(weight_decay),
         bool(nesterov), bool(first))
