"""DistributedDataParallel: the same model on every rank, gradients averaged in buckets.

    dist.init()
    model = DistributedDataParallel(lenet5())     # rank 0's weights on every rank
    for x, y in sharded_loader:                   # each rank: its slice of the batch
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        model.sync_gradients()                    # every rank: the global-batch gradient
        optimizer.step()                          # ... so every rank takes the same step

At construction rank 0's parameters and buffers are broadcast (MPI/NCCL), so
every rank starts from the same weights whatever its random seed.

``sync_gradients()`` makes each gradient the gradient of the loss over the
*global* batch. The loss on rank r is a mean over its n_r images, so the
global mean over N = sum n_r images has the gradient

    g = sum_r (n_r / N) g_r

Each rank scales its gradients by n_r, the buckets are summed with one
allreduce each, and the result is divided by N (carried as one extra element
of the first bucket, so it costs no extra message). With equal shards this is
the plain average PyTorch's DDP takes.

Buckets: the gradients are packed, in the fixed order of ``parameters()``
(the same on every rank, as the model is built by the same code), into flat
arrays of at most ``bucket_cap_mb`` megabytes and one dtype each: a few large
messages instead of one per layer, since each message pays the latency α
(see benchmarks/distributed.py). A parameter with no gradient on a rank
counts as a zero gradient there, and gets the averaged gradient like the others.

minicnn's autograd has no post-backward hooks, so the averaging is the
explicit ``sync_gradients()`` call (as Horovod's ``allreduce_gradients``)
rather than overlapped with backward as in PyTorch.

``state_dict()`` and ``load_state_dict()`` are the wrapped module's, without
PyTorch's ``module.`` prefix, so a checkpoint is the same whether 1 or N
ranks wrote it and any number of ranks can resume it.
"""
from __future__ import annotations

import numpy

from minicnn.backend import get_array_module
from minicnn.distributed import comm
from minicnn.nn.module import Module

__all__ = ["DistributedDataParallel", "plan_buckets", "DEFAULT_BUCKET_CAP_MB"]

DEFAULT_BUCKET_CAP_MB = 25.0


def plan_buckets(arrays, cap_bytes: int) -> list:
    """Group the indices of ``arrays`` into buckets of one dtype and at most ``cap_bytes``.

    The order is kept: a bucket is a run of consecutive arrays; a new bucket
    starts when the dtype (or array module) changes or the next array would
    overflow the cap. An array larger than the cap gets a bucket of its own.
    Returns a list of lists of indices.
    """
    if not isinstance(cap_bytes, (int, numpy.integer)) or cap_bytes < 1:
        raise ValueError(f"plan_buckets: cap_bytes must be a positive int, got {cap_bytes!r}")
    buckets, current, size, kind = [], [], 0, None
    for i, a in enumerate(arrays):
        this_kind = (numpy.dtype(a.dtype).str, type(a).__module__)
        if current and (this_kind != kind or size + a.nbytes > cap_bytes):
            buckets.append(current)
            current, size = [], 0
        current.append(i)
        size += a.nbytes
        kind = this_kind
    if current:
        buckets.append(current)
    return buckets


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the ranks of the job.

    Args:
        module: the model; built the same way on every rank.
        bucket_cap_mb: the largest gradient bucket, in megabytes (PyTorch's default 25).
        broadcast_buffers: also copy rank 0's buffers (BatchNorm's running
            statistics) at construction.

    Needs ``minicnn.distributed.init()`` first. ``model(x)`` is ``module(x)``
    (it also records the local batch size ``x.shape[0]``); call
    ``sync_gradients()`` between ``backward()`` and ``optimizer.step()``.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB,
                 broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a minicnn Module, got "
                            f"{type(module).__name__}")
        if not comm.is_initialized():
            raise comm.DistributedError("DistributedDataParallel: call "
                                        "minicnn.distributed.init() first (under mpiexec)")
        if not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive "
                             f"number, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.local_batch_size = None
        self.broadcast_state(buffers=broadcast_buffers)
        self.params = [p for p in module.parameters() if p.requires_grad]
        cap = max(1, int(self.bucket_cap_mb * 2 ** 20))
        self.buckets = plan_buckets([p.data for p in self.params], cap)

    def broadcast_state(self, buffers: bool = True) -> None:
        """Copy rank 0's parameters (and buffers) into every rank's, in place."""
        arrays = [p.data for p in self.module.parameters()]
        if buffers:
            arrays += [b for b in self.module.buffers() if b is not None]
        for a in arrays:
            if a.flags.c_contiguous:
                comm.broadcast(a, root=0)
            else:  # a view: broadcast a contiguous copy and write it back
                xp = get_array_module(a)
                tmp = xp.ascontiguousarray(a)
                comm.broadcast(tmp, root=0)
                a[...] = tmp

    def forward(self, *args, **kwargs):
        if args and hasattr(args[0], "shape") and len(args[0].shape) > 0:
            self.local_batch_size = int(args[0].shape[0])
        return self.module(*args, **kwargs)

    def sync_gradients(self) -> None:
        """Make every gradient the global-batch gradient, sum_r (n_r / N) g_r, on all ranks."""
        n_r = self.local_batch_size
        if n_r is None:
            raise RuntimeError("DistributedDataParallel.sync_gradients: no forward pass "
                               "was seen; call model(x) and backward() first")
        total = None
        for b, indices in enumerate(self.buckets):
            params = [self.params[i] for i in indices]
            xp = get_array_module(params[0].data)
            dtype = params[0].data.dtype
            parts = []
            for p in params:
                g = p.grad if p.grad is not None else xp.zeros_like(p.data)
                parts.append(g.reshape(-1))          # (*p.shape) -> (p.size,)
            if b == 0:  # the first bucket also carries n_r, to sum N
                parts.append(xp.asarray([n_r], dtype=dtype))
            flat = xp.concatenate(parts) * dtype.type(n_r)
            if b == 0:
                flat[-1] = n_r
            comm.all_reduce(flat, op="sum")
            if b == 0:
                total = float(flat[-1])
            flat /= dtype.type(total)
            start = 0
            for p in params:
                g = flat[start:start + p.size].reshape(p.shape)  # (p.size,) -> p.shape
                start += p.size
                p.grad = g.copy()   # its own array: the flat bucket is reused

    # checkpoints hold the plain module's state: interchangeable between 1 and N ranks
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        return self.module.state_dict(destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True):
        return self.module.load_state_dict(state_dict, strict)

    def extra_repr(self) -> str:
        return (f"world_size={comm.world_size()}, buckets={len(self.buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}")
