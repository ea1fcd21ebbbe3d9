"""Convolution as the definition: seven nested Python loops, slow and clear on purpose.

This file is the level everything else is checked against. ``F.conv2d``
(im2col + GEMM, functional/conv.py) and the Numba kernels (kernels/cpu/conv.py,
direct_conv.py) are tested against ``conv2d_naive`` on small shapes. It runs
one multiply-add per Python iteration, about a million times slower than
``F.conv2d`` on a real layer: use it to read, to check, and on images a few
pixels wide, never to train.

Notation (NCHW, as in functional/conv.py):

    x:  (N, C, H, W)              xpad: x with PH zero rows above and below,
    W:  (OC, C/G, KH, KW)               PW zero columns left and right
    b:  (OC,)                     G = groups, Cg = C/G, OCg = OC/G
    y:  (N, OC, OH, OW)           OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
                                  OW = (W + 2*PW - DW*(KW-1) - 1) // SW + 1

    y[n, o, oh, ow] = b[o] + sum_{c < Cg, i < KH, j < KW}
                      W[o, c, i, j] * xpad[n, g*Cg + c, oh*SH + i*DH, ow*SW + j*DW]

where g = o // OCg is the group of output channel o.
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, as_tensor
from minicnn.backend import get_array_module
from minicnn.functional.conv import (
    _check_fits,
    _check_image,
    _padding_pair,
    _positive_pair,
    conv_output_size,
)

__all__ = ["conv2d_naive", "Conv2dNaiveFunction", "conv2d_naive_forward",
           "conv2d_naive_backward"]


def conv2d_naive_forward(x, W, b, SH, SW, PH, PW, DH, DW, groups):
    """y = W * x + b by the definition, one multiply-add per loop iteration.

    x: (N, C, H, W), W: (OC, C/groups, KH, KW), b: (OC,) or None
    -> y: (N, OC, OH, OW). The same arguments as conv2d_forward_reference.
    """
    xp = get_array_module(x)
    N, C, H, W_in = x.shape
    OC, Cg, KH, KW = W.shape
    OCg = OC // groups
    OH = conv_output_size(H, KH, SH, PH, DH)
    OW = conv_output_size(W_in, KW, SW, PW, DW)
    xpad = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H+2PH, W+2PW)
    y = xp.zeros((N, OC, OH, OW), dtype=x.dtype)
    for n in range(N):
        for o in range(OC):
            g = o // OCg                       # the group this filter belongs to
            for oh in range(OH):
                for ow in range(OW):
                    total = 0.0 if b is None else b[o]
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                total += (W[o, c, i, j]
                                          * xpad[n, g * Cg + c, oh * SH + i * DH,
                                                 ow * SW + j * DW])
                    y[n, o, oh, ow] = total
    return y


def conv2d_naive_backward(gy, x, W, SH, SW, PH, PW, DH, DW, groups,
                          need_gx=True, need_gW=True, need_gb=True):
    """Gradients of the convolution by the same loops as the forward.

    gy: (N, OC, OH, OW) -> (gx (N, C, H, W), gW like W, gb (OC,)), None where
    the matching ``need_*`` is False. The same arguments as
    conv2d_backward_reference.

    y[n,o,oh,ow] is a sum of products W[o,c,i,j] * xpad[n, g*Cg+c, h, w] with
    h = oh*SH + i*DH, w = ow*SW + j*DW. Each product sends gy[n,o,oh,ow] back to
    both of its factors, times the other one:

        gW[o,c,i,j]           += gy[n,o,oh,ow] * xpad[n, g*Cg+c, h, w]
        gxpad[n, g*Cg+c, h, w] += gy[n,o,oh,ow] * W[o,c,i,j]
        gb[o]                 += gy[n,o,oh,ow]          (b is in every sum of plane o)

    The padding is constant zeros: the gradient that lands on it is dropped
    when gxpad is cropped back to (H, W).
    """
    xp = get_array_module(x)
    N, C, H, W_in = x.shape
    OC, Cg, KH, KW = W.shape
    OCg = OC // groups
    OH, OW = gy.shape[2:]
    xpad = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H+2PH, W+2PW)
    gxpad = xp.zeros(xpad.shape, dtype=x.dtype)
    gW = xp.zeros(W.shape, dtype=W.dtype)
    gb = xp.zeros((OC,), dtype=gy.dtype)
    for n in range(N):
        for o in range(OC):
            g = o // OCg
            for oh in range(OH):
                for ow in range(OW):
                    g_out = gy[n, o, oh, ow]
                    gb[o] += g_out
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                h, w = oh * SH + i * DH, ow * SW + j * DW
                                gW[o, c, i, j] += g_out * xpad[n, g * Cg + c, h, w]
                                gxpad[n, g * Cg + c, h, w] += g_out * W[o, c, i, j]
    gx = xp.ascontiguousarray(gxpad[:, :, PH:PH + H, PW:PW + W_in])  # drop the padding
    return (gx if need_gx else None, gW if need_gW else None, gb if need_gb else None)


class Conv2dNaiveFunction(Function):
    """2-D convolution by explicit loops (the definition; see the module docstring)."""

    def __init__(self, stride, padding, dilation, groups):
        self.SH, self.SW = stride
        self.PH, self.PW = padding
        self.DH, self.DW = dilation
        self.groups = groups

    def forward(self, x, W, b=None):
        self.x, self.W = x, W
        self.has_bias = b is not None
        return conv2d_naive_forward(x, W, b, self.SH, self.SW, self.PH, self.PW,
                                    self.DH, self.DW, self.groups)

    def backward(self, gy):
        need_gb = self.has_bias and self.needs_grad[2]
        gx, gW, gb = conv2d_naive_backward(
            gy, self.x, self.W, self.SH, self.SW, self.PH, self.PW, self.DH, self.DW,
            self.groups, self.needs_grad[0], self.needs_grad[1], need_gb)
        if self.has_bias:
            return gx, gW, gb
        return gx, gW


def conv2d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``F.conv2d`` computed by seven nested loops: the definition, for reading and checking.

    The same arguments and result as ``F.conv2d`` (padding an int or a pair;
    'same'/'valid' are F.conv2d's alone). Slow on purpose: one Python
    multiply-add per term, so keep the images a few pixels wide.

        >>> import numpy, minicnn, minicnn.functional as F
        >>> x = minicnn.Tensor(numpy.arange(9.0).reshape(1, 1, 3, 3))
        >>> w = minicnn.Tensor(numpy.ones((1, 1, 2, 2)))
        >>> F.conv2d_naive(x, w).numpy()[0, 0]      # each 2x2 patch summed
        array([[ 8., 12.],
               [20., 24.]])
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_image("conv2d_naive", x)
    if weight.ndim != 4:
        raise ValueError(f"conv2d_naive: expected a 4-D weight (OC, C/groups, KH, KW), got "
                         f"shape {weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d_naive: input dtype {x.dtype} does not match weight dtype "
                        f"{weight.dtype}; convert one with .to(dtype)")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d_naive: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    C = x.shape[1]
    OC, Cg, KH, KW = weight.shape
    if OC % groups != 0 or C != Cg * groups:
        raise ValueError(
            f"conv2d_naive: input has {C} channels and weight {weight.shape}, which need "
            f"C == weight.shape[1]*groups and OC divisible by groups (groups={groups})")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (OC,) or bias.dtype != x.dtype:
            raise ValueError(f"conv2d_naive: expected a bias of shape ({OC},) and dtype "
                             f"{x.dtype}, got shape {bias.shape} dtype {bias.dtype}")
    SH, SW = _positive_pair("conv2d_naive", "stride", stride)
    DH, DW = _positive_pair("conv2d_naive", "dilation", dilation)
    PH, PW = _padding_pair("conv2d_naive", padding)
    _check_fits("conv2d_naive", x.shape[2:], KH, KW, PH, PW, DH, DW)
    fn = Conv2dNaiveFunction((SH, SW), (PH, PW), (DH, DW), groups)
    if bias is None:
        return fn(x, weight)
    return fn(x, weight, bias)
