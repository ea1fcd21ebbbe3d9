"""The programs the distributed tests run under ``mpiexec -n N`` (not a test module).

    mpiexec -n 2 python tests/distributed/mpi_worker.py SCENARIO OUT_DIR

Each scenario writes what the test compares into OUT_DIR/rank{r}.npz.
"""
import os
import signal
import sys
import time

import numpy

import minicnn
import minicnn.distributed as dist
from minicnn import nn, optim
from minicnn.autograd import Tensor
from minicnn.data import ArrayDataset, DataLoader
from minicnn.functional import cross_entropy

TRAJECTORY = {"n": 99, "batch_size": 8, "epochs": 2, "lr": 0.1, "momentum": 0.9, "seed": 3}


def small_cnn(seed):
    """A conv net without BatchNorm or dropout on 8x8 images."""
    minicnn.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


def digits_like(n):
    """n seeded random 8x8 uint8 images whose label is set by their brightest quadrant
    (learnable, and made in microseconds: scikit-learn's import costs seconds)."""
    rng = numpy.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 1, 8, 8), dtype=numpy.uint8)
    quadrants = images.reshape(n, 2, 4, 2, 4).sum(axis=(2, 4)).reshape(n, 4)
    return ArrayDataset(images, quadrants.argmax(axis=1))


def train(model, loader, epochs, lr, momentum, sync=None):
    """Plain SGD epochs; ``sync`` (the DDP model) averages the gradients."""
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if sync is not None:
                sync.sync_gradients()
            optimizer.step()
    return model


def save(out, **arrays):
    numpy.savez(os.path.join(out, f"rank{dist.rank()}.npz"), **arrays)


def scenario_trajectory(out):
    """Train the small CNN data-parallel with batch B per rank (seed differs per rank)."""
    t = TRAJECTORY
    model = dist.DistributedDataParallel(small_cnn(seed=100 + dist.rank()))
    loader = dist.ShardedLoader(DataLoader(digits_like(t["n"]), t["batch_size"],
                                           shuffle=True, seed=t["seed"]),
                                dist.rank(), dist.world_size())
    train(model, loader, t["epochs"], t["lr"], t["momentum"], sync=model)
    save(out, **{k: v for k, v in model.state_dict().items()})


def scenario_broadcast(out):
    """Different seeds per rank; after wrapping every rank holds rank 0's weights."""
    inner = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    minicnn.manual_seed(dist.rank())
    for p in inner.parameters():
        p.data[...] = numpy.random.default_rng(dist.rank()).standard_normal(p.shape)
    inner[1].running_mean[...] = dist.rank() + 1.0
    before = {f"before.{k}": v.copy() for k, v in inner.state_dict().items()}
    model = dist.DistributedDataParallel(inner, bucket_cap_mb=1e-5)
    after = {f"after.{k}": v for k, v in model.state_dict().items()}
    # the collectives themselves
    r, n = dist.rank(), dist.world_size()
    s = dist.all_reduce(numpy.full(3, r + 1.0))
    m = dist.all_reduce(numpy.full(2, float(r)), op="mean")
    mx = dist.all_reduce(numpy.array([r, -r], dtype=numpy.int64), op="max")
    b = dist.broadcast(numpy.full(4, 10.0 * r), root=n - 1)
    dist.barrier()
    save(out, **before, **after, sum=s, mean=m, max=mx, bcast=b,
         buckets=numpy.array(len(model.buckets)))


def scenario_syncbn(out):
    """SyncBatchNorm on unequal shards of one batch: rank r takes its slice."""
    from minicnn.distributed import SyncBatchNorm
    rng = numpy.random.default_rng(0)
    C = 3
    x = rng.standard_normal((7, C, 4, 5)) * 2 + 1
    R = rng.standard_normal(x.shape)
    cuts = numpy.array_split(numpy.arange(7), dist.world_size())[dist.rank()]
    bn = SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(C)).double())
    bn[0].weight.data[...] = [1.5, -0.5, 2.0]
    bn[0].bias.data[...] = [0.1, 0.2, -0.3]
    xt = Tensor(x[cuts], requires_grad=True)
    y = bn(xt)
    loss = (y * Tensor(R[cuts])).sum() / len(cuts)     # a mean over the local batch
    loss.backward()
    save(out, idx=cuts, y=y.data, gx=xt.grad, gw=bn[0].weight.grad, gb=bn[0].bias.grad,
         running_mean=bn[0].running_mean, running_var=bn[0].running_var,
         kind=numpy.array(type(bn[0]).__name__))


def scenario_die(out):
    """Rank 1 is killed (SIGKILL) after one allreduce; rank 0 keeps reducing."""
    dist.all_reduce(numpy.ones(4))
    if dist.rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    for _ in range(10 ** 6):
        dist.all_reduce(numpy.ones(4))


def scenario_hang(out):
    """Rank 1 stays alive but stops taking part: rank 0's allreduce must time out."""
    dist.all_reduce(numpy.ones(4))
    if dist.rank() == 1:
        time.sleep(600)
    dist.all_reduce(numpy.ones(4))


if __name__ == "__main__":
    scenario, out_dir = sys.argv[1], sys.argv[2]
    minicnn.set_backend("numpy")   # no JIT compile in every rank: the tests stay fast
    dist.init()
    globals()[f"scenario_{scenario}"](out_dir)
