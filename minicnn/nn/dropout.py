"""Dropout: a thin Module over ``F.dropout`` that reads the module's ``training`` flag."""
from __future__ import annotations

import minicnn.functional as F
from minicnn.nn import _utils as U
from minicnn.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Inverted dropout (PyTorch's ``nn.Dropout``).

    In training each element is zeroed with probability ``p`` and the rest are
    scaled by 1 / (1 - p), so the expected output equals the input; in eval
    mode (``model.eval()``) it is the identity. Masks come from minicnn's seeded
    generator (``minicnn.manual_seed``).

    ``inplace`` is accepted for PyTorch compatibility and shown in the repr; the
    output is always a new tensor (autograd needs the input unchanged).
    Shape: any -> the same.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        self.p = U.check_float("Dropout", "p", p, 0, 1)
        self.inplace = U.check_bool("Dropout", "inplace", inplace)

    def forward(self, x):
        x = U.as_input(repr(self), x)
        U.check_dtype(repr(self), x)
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
