"""BatchNorm1d, BatchNorm2d and LocalResponseNorm, thin Modules over
``F.batch_norm`` and ``F.local_response_norm``.

BatchNorm keeps, per channel C, a learnable scale ``weight`` (gamma, init 1)
and shift ``bias`` (beta, init 0), and the buffers ``running_mean`` (init 0),
``running_var`` (init 1) and ``num_batches_tracked`` (an int64 0-d array).
In training it normalizes with the batch's statistics and updates the running
ones in place:

    running = (1 - momentum) * running + momentum * batch_statistic

(the variance unbiased, as PyTorch); ``momentum=None`` gives the cumulative
average, momentum = 1 / num_batches_tracked. In eval mode it normalizes with
the running statistics.
"""
from __future__ import annotations

import numpy

import minicnn.functional as F
from minicnn.nn import _utils as U
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LocalResponseNorm"]


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ in the input shapes."""

    _input_layouts: dict = {}

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = U.check_int(name, "num_features", num_features, 1)
        self.eps = U.check_float(name, "eps", eps, 0)
        if momentum is not None:
            U.check_float(name, "momentum", momentum, 0, 1)
        self.momentum = momentum
        self.affine = U.check_bool(name, "affine", affine)
        self.track_running_stats = U.check_bool(name, "track_running_stats",
                                                track_running_stats)
        U.check_bool(name, "bias", bias)
        dtype = U.resolve_dtype(name, dtype)
        C = self.num_features
        if self.affine:
            self.weight = Parameter(numpy.empty(C, dtype=dtype))
            if bias:
                self.bias = Parameter(numpy.empty(C, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", numpy.zeros(C, dtype=dtype))
            self.register_buffer("running_var", numpy.ones(C, dtype=dtype))
            self.register_buffer("num_batches_tracked", numpy.array(0, dtype=numpy.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset; weight = 1, bias = 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        dtype = self.weight.dtype if self.weight is not None else None
        if dtype is None and self.running_mean is not None:
            dtype = self.running_mean.dtype
        x = U.check_input(repr(self), x, self._input_layouts, self.num_features,
                          dtype=dtype, what="features (channels)")
        if self.training:
            per_channel = x.size // self.num_features
            if per_channel <= 1:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when "
                                 f"training, got input of shape {x.shape}")
        # As PyTorch: momentum None means the cumulative average, 1 / batches seen.
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1    # in place: the buffer array stays the same
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        # Batch statistics in training, and in eval when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        # Running statistics are passed only when they are to be used or updated.
        pass_running = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if pass_running else None,
                            self.running_var if pass_running else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features, per channel over N (and L).

    Shape: (N, C) or (N, C, L) -> the same.
    """

    _input_layouts = {2: "(N, C)", 3: "(N, C, L)"}


class BatchNorm2d(_BatchNorm):
    """Batch normalization of images, per channel over N, H and W.

    Shape: (N, C, H, W) -> the same.
    """

    _input_layouts = {4: "(N, C, H, W)"}


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet), as PyTorch:

        y_c = x_c / (k + alpha / size * sum_{c' near c} x_c'^2)^beta

    over ``size`` neighbouring channels. The AlexNet paper's constants (no
    division by size) are ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)``.
    Shape: (N, C, ...) with at least 3 dimensions -> the same.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        name = "LocalResponseNorm"
        self.size = U.check_int(name, "size", size, 1)
        self.alpha = U.check_float(name, "alpha", alpha)
        self.beta = U.check_float(name, "beta", beta)
        self.k = U.check_float(name, "k", k)

    def forward(self, x):
        x = U.as_input(repr(self), x)
        if x.ndim < 3:
            raise ValueError(f"{self!r}: expected 3-D or higher input (N, C, ...), got "
                             f"shape {x.shape}")
        U.check_dtype(repr(self), x)
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
