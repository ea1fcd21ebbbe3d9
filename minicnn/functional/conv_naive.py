"""Convolution as the definition: seven nested Python loops, slow and clear on purpose.

This file is the level everything else is checked against. ``F.conv2d``
(im2col + GEMM, functional/conv.py) and the Numba kernels (kernels/cpu/conv.py,
direct_conv.py) are tested against ``conv2d_naive`` on small shapes. It runs
one multiply-add per Python iteration, about a million times slower than
``F.conv2d`` on a real layer: use it to read, to check, and on images a few
pixels wide, never to train. It has no fast kernel: what you read is what runs.

Notation (NCHW, as in functional/conv.py; ``W`` is a width, never the filters):

    x:      (N, C, H, W)          x_pad: x with PH zero rows above and below,
    weight: (OC, C/G, KH, KW)            PW zero columns left and right
    bias:   (OC,)                 G = groups, Cg = C/G, OCg = OC/G
    y:      (N, OC, OH, OW)       OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
                                  OW = (W + 2*PW - DW*(KW-1) - 1) // SW + 1

    y[n, o, oh, ow] = bias[o] + sum_{c < Cg, i < KH, j < KW}
                      weight[o, c, i, j] * x_pad[n, g*Cg + c, oh*SH + i*DH, ow*SW + j*DW]

where g = o // OCg is the group of output channel o.
"""
from __future__ import annotations

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.functional._geometry import conv_output_hw
from minicnn.functional.conv import prepare_conv2d

__all__ = ["conv2d_naive", "Conv2dNaiveFunction", "conv2d_naive_forward",
           "conv2d_naive_backward"]


def conv2d_naive_forward(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """y = weight * x + bias by the definition, one multiply-add per loop iteration.

    x: (N, C, H, W), weight: (OC, C/groups, KH, KW), bias: (OC,) or None
    -> y: (N, OC, OH, OW). The same arguments as conv2d_forward_reference.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    OCg = OC // groups
    OH, OW = conv_output_hw(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    x_pad = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H+2PH, W+2PW)
    y = xp.zeros((N, OC, OH, OW), dtype=x.dtype)
    for n in range(N):
        for o in range(OC):
            g = o // OCg                       # the group this filter belongs to
            for oh in range(OH):
                for ow in range(OW):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                total += (weight[o, c, i, j]
                                          * x_pad[n, g * Cg + c, oh * SH + i * DH,
                                                  ow * SW + j * DW])
                    y[n, o, oh, ow] = total
    return y


def conv2d_naive_backward(gy, x, weight, SH, SW, PH, PW, DH, DW, groups,
                          need_gx=True, need_gweight=True, need_gbias=True):
    """Gradients of the convolution by the same loops as the forward.

    gy: (N, OC, OH, OW) -> (gx (N, C, H, W), gweight like weight, gbias (OC,)),
    None where the matching ``need_*`` is False. The same arguments as
    conv2d_backward_reference.

    y[n,o,oh,ow] is a sum of products weight[o,c,i,j] * x_pad[n, g*Cg+c, h, w]
    with h = oh*SH + i*DH, w = ow*SW + j*DW. Each product sends gy[n,o,oh,ow]
    back to both of its factors, times the other one:

        gweight[o,c,i,j]        += gy[n,o,oh,ow] * x_pad[n, g*Cg+c, h, w]
        gx_pad[n, g*Cg+c, h, w] += gy[n,o,oh,ow] * weight[o,c,i,j]
        gbias[o]                += gy[n,o,oh,ow]     (bias is in every sum of plane o)

    The padding is constant zeros: the gradient that lands on it is dropped
    when gx_pad is cropped back to (H, W).
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = weight.shape
    OCg = OC // groups
    OH, OW = gy.shape[2:]
    x_pad = xp.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))  # (N, C, H+2PH, W+2PW)
    gx_pad = xp.zeros(x_pad.shape, dtype=x.dtype)
    gweight = xp.zeros(weight.shape, dtype=weight.dtype)
    gbias = xp.zeros((OC,), dtype=gy.dtype)
    for n in range(N):
        for o in range(OC):
            g = o // OCg
            for oh in range(OH):
                for ow in range(OW):
                    g_out = gy[n, o, oh, ow]
                    gbias[o] += g_out
                    for c in range(Cg):
                        for i in range(KH):
                            for j in range(KW):
                                h, w = oh * SH + i * DH, ow * SW + j * DW
                                gweight[o, c, i, j] += g_out * x_pad[n, g * Cg + c, h, w]
                                gx_pad[n, g * Cg + c, h, w] += g_out * weight[o, c, i, j]
    gx = xp.ascontiguousarray(gx_pad[:, :, PH:PH + H, PW:PW + W])  # drop the padding
    return (gx if need_gx else None, gweight if need_gweight else None,
            gbias if need_gbias else None)


class Conv2dNaiveFunction(Function):
    """2-D convolution by explicit loops (the definition; see the module docstring)."""

    def __init__(self, stride, padding, dilation, groups):
        self.SH, self.SW = stride
        self.PH, self.PW = padding
        self.DH, self.DW = dilation
        self.groups = groups

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        self.has_bias = bias is not None
        return conv2d_naive_forward(x, weight, bias, self.SH, self.SW, self.PH, self.PW,
                                    self.DH, self.DW, self.groups)

    def backward(self, gy):
        need_gbias = self.has_bias and self.needs_grad[2]
        gx, gweight, gbias = conv2d_naive_backward(
            gy, self.x, self.weight, self.SH, self.SW, self.PH, self.PW, self.DH, self.DW,
            self.groups, self.needs_grad[0], self.needs_grad[1], need_gbias)
        if self.has_bias:
            return gx, gweight, gbias
        return gx, gweight


def conv2d_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``F.conv2d`` computed by seven nested loops: the definition, for reading and checking.

    The same arguments, checks and result as ``F.conv2d`` (its argument checker,
    ``prepare_conv2d``). Slow on purpose: one Python multiply-add per term, so
    keep the images a few pixels wide.

        >>> import numpy, minicnn, minicnn.functional as F
        >>> x = minicnn.Tensor(numpy.arange(9.0).reshape(1, 1, 3, 3))
        >>> w = minicnn.Tensor(numpy.ones((1, 1, 2, 2)))
        >>> F.conv2d_naive(x, w).numpy()[0, 0]      # each 2x2 patch summed
        array([[ 8., 12.],
               [20., 24.]])
    """
    x, weight, bias, stride, padding, dilation, groups = prepare_conv2d(
        "conv2d_naive", x, weight, bias, stride, padding, dilation, groups)
    fn = Conv2dNaiveFunction(stride, padding, dilation, groups)
    if bias is None:
        return fn(x, weight)
    return fn(x, weight, bias)
