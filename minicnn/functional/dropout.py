"""Dropout: randomly zero activations during training (Srivastava et al., 2014).

Inverted dropout, as PyTorch: in training every element is kept with
probability 1 - p and the kept ones are scaled by 1 / (1 - p),

    mask = [u >= p] / (1 - p),   u ~ Uniform[0, 1)      (one u per element)
    y    = x * mask

so that E[y] = x and evaluation needs no rescaling: ``training=False``
returns x unchanged. The backward is gx = gy * mask.

The uniform numbers u come from ``minicnn.rng.get_rng()`` on the host and
are copied to x's backend, so ``minicnn.manual_seed(n)`` gives the same mask
on NumPy, Numba and CUDA. The masking loop goes through
``minicnn.backend.kernel('dropout_forward', ...)``; ``dropout_forward_reference``
is the plain reference.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

import numbers

import numpy

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module, kernel
from minicnn.rng import get_rng

__all__ = ["dropout", "DropoutFunction", "dropout_forward_reference"]


def dropout_forward_reference(x, u, p):
    """Kernel ``dropout_forward(x, u, p) -> (y, mask)``.

    x: any shape; u: uniform [0, 1) of x's shape; 0 <= p < 1.
    mask = (u >= p) / (1 - p) in x's dtype; y = x * mask.
    """
    mask = ((u >= p) / (1 - p)).astype(x.dtype, copy=False)
    return x * mask, mask


class DropoutFunction(Function):
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = get_array_module(x)
        if self.p == 1:
            # every element dropped: the formula's 1 / (1 - p) would be 0 / 0
            self.mask = xp.zeros_like(x)
            return xp.zeros_like(x)
        u = xp.asarray(_uniform(x.shape, x.dtype))
        y, self.mask = kernel("dropout_forward", dropout_forward_reference, like=x)(
            x, u, self.p)
        return y

    def backward(self, gy):
        return gy * self.mask                  # y = x * mask  =>  gx = gy * mask


def _uniform(shape, dtype):
    """Uniform [0, 1) host numbers of ``dtype`` from minicnn's seeded generator."""
    dtype = numpy.dtype(dtype)
    if dtype in (numpy.float32, numpy.float64):
        return get_rng().random(shape, dtype=dtype)
    return get_rng().random(shape).astype(dtype)   # e.g. float16: draw, then round


def dropout(x, p=0.5, training=True):
    """Inverted dropout. x: any shape -> y: the same shape.

    Args:
        x: a floating-point tensor.
        p: probability of zeroing an element, 0 <= p <= 1 (p = 1 gives zeros).
        training: False makes dropout the identity (x itself is returned).
    """
    x = as_tensor(x)
    if not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"dropout: p must be a number, got {p!r}")
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, but got {p}")
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating-point tensor, got dtype {x.dtype} "
                        f"(shape {x.shape})")
    if not training:
        return x
    return DropoutFunction(float(p))(x)
