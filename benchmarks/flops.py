"""FLOP counts of the benchmarked ops, by the formulas a student can check by hand.

A multiply-add is 2 FLOPs. Forward convolution:

    MACs = N * OC * OH * OW * (C / groups) * KH * KW,   FLOPs = 2 * MACs
    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1             (``conv_output_size``)

Backward computes two products of the same size (gweight and gx): 2x the forward.
Linear: MACs = N * in * out. Pooling, LRN, BatchNorm and the loss are memory
bound; their count is the elementwise work (one FLOP per element and window
tap), reported so the scaling plots have an x axis, not as a peak measure.
"""
from __future__ import annotations

from minicnn.functional._geometry import conv_output_size  # the one formula, re-exported

__all__ = ["conv_output_size", "conv2d_flops", "linear_flops", "pool_flops",
           "elementwise_flops", "backward_factor"]


def conv2d_flops(N, C, H, W, OC, KH, KW, stride=1, padding=0, dilation=1, groups=1):
    """Forward FLOPs (2 x multiply-adds) of one conv2d layer."""
    OH = conv_output_size(H, KH, stride, padding, dilation)
    OW = conv_output_size(W, KW, stride, padding, dilation)
    return 2 * N * OC * OH * OW * (C // groups) * KH * KW


def linear_flops(N, in_features, out_features):
    return 2 * N * in_features * out_features


def pool_flops(N, C, OH, OW, KH, KW):
    """One comparison or addition per window tap."""
    return N * C * OH * OW * KH * KW


def elementwise_flops(numel, per_element=1):
    return numel * per_element


def backward_factor(op: str) -> float:
    """Backward cost relative to forward: 2 for GEMM ops (gx and gW), 1 otherwise."""
    return 2.0 if op in ("conv2d", "linear") else 1.0
