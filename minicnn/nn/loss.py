"""Loss modules: thin wrappers over ``F.cross_entropy``, ``F.nll_loss`` and
``F.mse_loss`` that hold the loss's settings.

A class ``weight`` is registered as a buffer, as in PyTorch (so it appears in
``state_dict()`` and follows ``.to()``).
"""
from __future__ import annotations

import numpy

import minicnn.functional as F
from minicnn.autograd import Tensor
from minicnn.nn import _utils as U
from minicnn.nn.module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(layer: str, reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{layer}: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    return reduction


def _class_weight(layer: str, weight):
    """A (K,) float array of class weights, or None."""
    if weight is None:
        return None
    array = weight.data if isinstance(weight, Tensor) else weight
    if not hasattr(array, "dtype"):
        array = numpy.asarray(array, dtype=numpy.float32)
    if array.ndim != 1 or array.dtype.kind != "f":
        raise ValueError(f"{layer}: weight must be a 1-D float array with one weight per "
                         f"class, got shape {tuple(array.shape)} and dtype {array.dtype}")
    return array


class _WeightedLoss(Module):
    def __init__(self, weight, reduction):
        super().__init__()
        name = type(self).__name__
        self.register_buffer("weight", _class_weight(name, weight))
        self.reduction = _check_reduction(name, reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy between logits and class labels (or probabilities).

        loss_i = -w_{y_i} log softmax(x_i)_{y_i}   ('mean': sum / sum of w_{y_i})

    Args:
        weight: (K,) class weights or None; ignore_index: a label to skip;
        reduction: 'mean' | 'sum' | 'none'; label_smoothing: eps in [0, 1].
    Shape: input (N, K) or (N, K, d1, ...), target (N,) / (N, d1, ...) integer
    labels or probabilities of input's shape -> a scalar (or (N, ...) for 'none').
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index = U.check_int("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = U.check_float("CrossEntropyLoss", "label_smoothing",
                                             label_smoothing, 0, 1)

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (pair it with LogSoftmax).

        loss_i = -w_{y_i} input[i, y_i]
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = U.check_int("NLLLoss", "ignore_index", ignore_index)

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight,
                          ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error (input - target)^2, reduced by 'mean' | 'sum' | 'none'."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
