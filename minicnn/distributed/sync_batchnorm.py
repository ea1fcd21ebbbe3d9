"""SyncBatchNorm: batch statistics over the global batch, through allreduce.

With plain BatchNorm under DistributedDataParallel each rank normalises with
its own batch's mean and variance (as PyTorch's DDP does): cheap, and with a
per-rank batch of 32 or more usually enough. With small per-rank batches the
statistics get noisy; SyncBatchNorm computes them over all ranks, so N ranks
with batch B normalise exactly as one process with batch N*B.

Forward, per channel c, over the M = sum_r M_r values of all ranks
(M_r = N_r * L on rank r), two allreduces:

    mean = allreduce(sum_r x) / M
    var  = allreduce(sum_r (x - mean)^2) / M            (biased; two passes, as the
    xhat = (x - mean) / sqrt(var + eps)                  one-pass E[x^2] - mean^2
    y    = weight * xhat + bias                          loses digits in float32)

Backward. Rank r's loss is a mean over its N_r images and DDP weights rank
r's gradients by w_r = N_r / N (see ddp.py), so the global loss is
L = sum_r w_r L_r. With s = 1/sqrt(var + eps) and gxhat = weight * gy on
each rank, the two sums of BatchNorm's backward become global, weighted sums
(one allreduce):

    A = sum_r w_r sum gxhat,        B = sum_r w_r sum gxhat * xhat
    dL/dx_j = s * (w_r gxhat_j - (A + xhat_j B) / M)

and rank r returns dL/dx_j / w_r (its gradient in the scale of its own loss L_r,
which DDP weights by w_r again). With one rank this is BatchNorm's backward;
with equal shards it is PyTorch's SyncBatchNorm. gweight = sum gy xhat and
gbias = sum gy stay local: DDP averages them like every other parameter.
"""
from __future__ import annotations

import numpy

from minicnn.autograd import Function
from minicnn.backend import get_array_module
from minicnn.distributed import comm
from minicnn.nn import _utils as U
from minicnn.nn.module import Module
from minicnn.nn.normalization import _BatchNorm

__all__ = ["SyncBatchNorm", "SyncBatchNormFunction", "sync_batch_norm"]


class SyncBatchNormFunction(Function):
    """Training-mode batch norm of x3 (N_r, C, L) with statistics over every rank.

    Inputs: ``x3`` then whichever of weight and bias exist. Updates the running
    statistics in place (the unbiased variance, M / (M - 1) var, with the global M).
    """

    def __init__(self, has_weight, has_bias, eps, running_mean, running_var, momentum):
        self.has_weight, self.has_bias, self.eps = has_weight, has_bias, eps
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum = momentum

    def forward(self, x3, *params):
        xp = get_array_module(x3)
        params = list(params)
        weight = params.pop(0) if self.has_weight else None
        bias = params.pop(0) if self.has_bias else None
        N_r, C, L = x3.shape
        # pass 1: the sums of x and the image count, in one message: (C + 1,)
        sums = xp.concatenate([x3.sum(axis=(0, 2)), xp.asarray([N_r], dtype=x3.dtype)])
        comm.all_reduce(sums, op="sum")
        N = float(sums[C])
        M = N * L
        mean = sums[:C] / x3.dtype.type(M)                   # (C,)
        xc = x3 - mean[:, None]                              # (N_r, C, L)
        # pass 2: the centred squares
        sq = (xc * xc).sum(axis=(0, 2))                      # (C,)
        comm.all_reduce(sq, op="sum")
        var = sq / x3.dtype.type(M)                          # (C,) biased
        inv_std = 1 / xp.sqrt(var + self.eps)                # (C,)
        self.xhat = xc * inv_std[:, None]                    # (N_r, C, L)
        self.inv_std, self.weight = inv_std, weight
        self.w_r, self.M = N_r / N, M
        if self.running_mean is not None:
            m = self.momentum
            unbiased = var * (M / (M - 1))
            # slice assignment writes into the module's buffers (in place)
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * unbiased
        y3 = self.xhat if weight is None else self.xhat * weight[:, None]
        if bias is not None:
            y3 = y3 + bias[:, None]
        return y3

    def backward(self, gy3):
        xp = get_array_module(gy3)
        xhat, s, w_r = self.xhat, self.inv_std, self.w_r
        C = xhat.shape[1]
        gxhat = gy3 if self.weight is None else gy3 * self.weight[:, None]
        # A and B of the docstring, weighted by w_r and summed over the ranks: (2C,)
        AB = xp.concatenate([gxhat.sum(axis=(0, 2)), (gxhat * xhat).sum(axis=(0, 2))])
        AB *= gy3.dtype.type(w_r)
        comm.all_reduce(AB, op="sum")
        A, B = AB[:C, None], AB[C:, None]                    # (C, 1) each
        M = gy3.dtype.type(self.M)
        gx3 = s[:, None] * (gxhat - (A + xhat * B) / (M * gy3.dtype.type(w_r)))
        grads = [gx3.astype(gy3.dtype, copy=False)]
        if self.has_weight:
            grads.append((gy3 * xhat).sum(axis=(0, 2)).astype(gy3.dtype, copy=False))
        if self.has_bias:
            grads.append(gy3.sum(axis=(0, 2)).astype(gy3.dtype, copy=False))
        return tuple(grads)


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                    eps=1e-5):
    """Training-mode batch norm of x (N_r, C, ...) with the statistics of all ranks.

    Returns y, x's shape. Needs ``minicnn.distributed.init()``.
    """
    N, C = x.shape[0], x.shape[1]
    L = int(numpy.prod(x.shape[2:], dtype=numpy.int64))
    params = [p for p in (weight, bias) if p is not None]
    x3 = x.reshape(N, C, L)                  # (N, C, [H, W]) -> (N, C, L)
    fn = SyncBatchNormFunction(weight is not None, bias is not None, float(eps),
                               running_mean, running_var, float(momentum))
    return fn(x3, *params).reshape(x.shape)  # (N, C, L) -> x's shape


class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch (all ranks).

    Shape: (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) -> the same.
    In eval mode, or before ``minicnn.distributed.init()``, it is BatchNorm.
    """

    _input_layouts = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}

    def forward(self, x):
        if not (self.training and comm.is_initialized()):
            return super().forward(x)
        dtype = self.weight.dtype if self.weight is not None else None
        x = U.check_input(repr(self), x, self._input_layouts, self.num_features,
                          dtype=dtype, what="features (channels)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        keep = self.track_running_stats
        return sync_batch_norm(x, self.running_mean if keep else None,
                               self.running_var if keep else None,
                               self.weight, self.bias, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """Replace every BatchNorm1d/2d in ``module`` by a SyncBatchNorm with its state.

        Returns the converted module (``module`` itself unless it is a BatchNorm).
        """
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, bias=module.bias is not None)
            for name in ("weight", "bias"):
                p = getattr(module, name)
                if p is not None:
                    setattr(sync, name, p)          # the same Parameter object
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(sync, name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child)
                if converted is not child:
                    setattr(module, name, converted)
        return module
