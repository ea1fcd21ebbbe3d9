"""The hook the Trainer takes for a data-parallel run (``Trainer(..., distributed=...)``).

    dist.init()
    hook = DataParallelHook(lr_warmup=5)          # linear scaling, 5 warm-up epochs
    model = hook.wrap_model(model)                # DistributedDataParallel
    train_loader = hook.shard(train_loader)       # this rank's slice of each batch
    trainer = Trainer(model, optimizer, out_dir=out if hook.is_writer else None,
                      log=print if hook.is_writer else None, distributed=hook)

The Trainer calls ``hook.step(optimizer)`` in place of ``optimizer.step()``
(averages the gradients, then steps with the warmed-up learning rate) and
``hook.reduce_metrics(result)`` on every pass's metrics (summed over the
ranks: the loss and accuracies are those of the whole data, and the count, so
the logged images/s is the global throughput).

Learning rate (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): with k
ranks the global batch is k times larger, and the *linear scaling rule* takes
a k times larger rate. Jumping there at once can diverge in the first epochs,
so ``lr_warmup=E`` ramps the multiplier linearly, step by step, from 1 to k
over the first E epochs: ``lr_t = lr * (1 + (k - 1) * min(1, t / E))``, t in
epochs (fractional). ``lr_warmup=0`` scales at once; None (default) keeps the
rate as given. The optimizer's ``lr`` stays the base rate between steps (the
multiplier is applied around ``optimizer.step()``), so schedulers, logs and
checkpoints see the base rate and a resume with another number of ranks
takes its own k.
"""
from __future__ import annotations

import numpy

from minicnn.backend import cupy_module
from minicnn.distributed import comm
from minicnn.distributed.ddp import DistributedDataParallel
from minicnn.distributed.sampler import ShardedLoader

__all__ = ["DataParallelHook", "warmup_multiplier"]


def warmup_multiplier(t: float, world_size: int, warmup_epochs: float | None) -> float:
    """The linear-scaling multiplier after ``t`` epochs: 1 -> world_size over the warm-up."""
    if warmup_epochs is None:
        return 1.0
    if warmup_epochs < 0:
        raise ValueError(f"lr warm-up must be >= 0 epochs, got {warmup_epochs!r}")
    ramp = 1.0 if warmup_epochs == 0 else min(1.0, t / warmup_epochs)
    return 1.0 + (world_size - 1) * ramp


def _use_local_gpu() -> None:
    """One GPU per rank: rank i on this machine uses GPU i mod (GPUs here), when CuPy sees any."""
    cupy = cupy_module()
    if cupy is None:
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy installed on a machine without a (working) GPU
        return
    if count > 0:
        cupy.cuda.Device(comm.local_rank() % count).use()


class DataParallelHook:
    """Shard the loaders, wrap the model, average gradients, reduce metrics; rank 0 writes."""

    def __init__(self, lr_warmup: float | None = None, bucket_cap_mb: float = 25.0):
        if not comm.is_initialized():
            raise comm.DistributedError("DataParallelHook: call minicnn.distributed.init() "
                                        "first (under mpiexec)")
        warmup_multiplier(0.0, 1, lr_warmup)   # validates lr_warmup
        self.lr_warmup = lr_warmup
        self.bucket_cap_mb = bucket_cap_mb
        self.rank, self.world_size = comm.rank(), comm.world_size()
        _use_local_gpu()
        self.model = None
        self.train_loader = None
        self._epoch, self._step = None, 0

    @property
    def is_writer(self) -> bool:
        """Only rank 0 prints, writes checkpoints, metrics and curves."""
        return self.rank == 0

    def wrap_model(self, model) -> DistributedDataParallel:
        self.model = DistributedDataParallel(model, bucket_cap_mb=self.bucket_cap_mb)
        return self.model

    def shard(self, loader, train: bool = True) -> ShardedLoader:
        """This rank's share of ``loader`` (the first training loader drives the warm-up)."""
        sharded = ShardedLoader(loader, self.rank, self.world_size)
        if train and self.train_loader is None:
            self.train_loader = sharded
        return sharded

    def step(self, optimizer) -> None:
        """Average the gradients over the ranks, then ``optimizer.step()`` at the warmed-up rate."""
        self.model.sync_gradients()
        epoch = self.train_loader.loader.epoch if self.train_loader is not None else 0
        if epoch != self._epoch:
            self._epoch, self._step = epoch, 0
        self._step += 1
        steps = max(1, len(self.train_loader)) if self.train_loader is not None else 1
        m = warmup_multiplier(epoch + self._step / steps, self.world_size, self.lr_warmup)
        if m == 1.0:
            optimizer.step()
            return
        base = [group["lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * m
        try:
            optimizer.step()
        finally:
            for group, lr in zip(optimizer.param_groups, base):
                group["lr"] = lr

    def reduce_metrics(self, result: dict) -> dict:
        """{'loss', 'accuracy', 'top5_accuracy', 'count'} of this rank -> those of all ranks."""
        n = result["count"]
        sums = numpy.array([result["loss"] * n, result["accuracy"] * n,
                            result["top5_accuracy"] * n, n], dtype=numpy.float64)
        comm.all_reduce(sums, op="sum")
        total = int(round(sums[3]))
        out = dict(result)
        out.update(loss=sums[0] / total, accuracy=round(sums[1]) / total,
                   top5_accuracy=round(sums[2]) / total, count=total)
        return out
