"""Data-parallel training over processes: MPI (mpi4py) on CPUs, NCCL on GPUs.

    mpiexec -n 2 minicnn train lenet5 --data digits --distributed
    mpiexec -n 2 python my_script.py              # with the library below

    import minicnn.distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(model)   # rank 0's weights everywhere
    loader = dist.ShardedLoader(loader, dist.rank(), dist.world_size())
    ...  loss.backward(); model.sync_gradients(); optimizer.step()

comm.py holds the collectives (which engine runs where, the timeouts),
sampler.py the sharding, ddp.py the gradient averaging, sync_batchnorm.py
SyncBatchNorm, training.py the Trainer's hook. docs/distributed.md is the guide.
Nothing in the engine imports this package.
"""
from minicnn.distributed.comm import (
    DEFAULT_TIMEOUT,
    DistributedError,
    abort,
    all_reduce,
    barrier,
    broadcast,
    collective_engine,
    get_timeout,
    init,
    is_initialized,
    local_rank,
    rank,
    world_size,
)
from minicnn.distributed.ddp import DistributedDataParallel, plan_buckets
from minicnn.distributed.sampler import DistributedSampler, ShardedLoader
from minicnn.distributed.sync_batchnorm import SyncBatchNorm, sync_batch_norm
from minicnn.distributed.training import DataParallelHook, warmup_multiplier

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank", "barrier",
           "all_reduce", "broadcast", "abort", "get_timeout", "collective_engine",
           "DistributedError", "DEFAULT_TIMEOUT", "DistributedDataParallel", "plan_buckets",
           "DistributedSampler", "ShardedLoader", "SyncBatchNorm", "sync_batch_norm",
           "DataParallelHook", "warmup_multiplier"]
