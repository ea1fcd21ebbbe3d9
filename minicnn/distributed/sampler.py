"""Sharded data: each rank takes its slice of every global batch of one seeded permutation.

With ``world_size`` ranks and a per-rank batch ``B``, the global batch is
``G = world_size * B``. Every epoch all ranks draw the *same* permutation,
``default_rng((seed, epoch)).permutation(n)`` (exactly what one DataLoader
with that seed shuffles by), cut it into global batches of G indices, and rank
r takes the r-th slice of B of each:

    order     = [ 7 2 9 4 | 0 5 8 1 | 3 6 ]      n = 10, 2 ranks, B = 2, G = 4
    rank 0    = [ 7 2 ]     [ 0 5 ]     [ 3 ]
    rank 1    = [ 9 4 ]     [ 8 1 ]     [ 6 ]

So step s of the job sees exactly the images step s of one process with batch
G would see, and the ranks' shards of an epoch are disjoint. A last global
batch smaller than G is split as evenly as possible (``numpy.array_split``);
if it has fewer images than ranks it is dropped (every rank must take part in
every step). Evaluation shards (``shuffle=False``) split the data into
contiguous blocks instead, and the metrics are summed over the ranks.

Augmentation draws its random numbers from ``default_rng((seed, epoch, rank))``:
the ranks augment independently, so with augmentation the run is no longer
step-for-step the single-process one (the sampled images still are).
"""
from __future__ import annotations

import math

import numpy

from minicnn.data.loader import DataLoader, Subset

__all__ = ["DistributedSampler", "ShardedLoader"]


class DistributedSampler:
    """The dataset indices of one rank, batch by batch, for each epoch.

    Args:
        num_samples: the dataset's length n.
        batch_size: images per rank per step (B).
        rank, world_size: this process and the job's size.
        shuffle: draw the epoch's permutation (training) or keep the order (evaluation).
        seed: the permutation is ``default_rng((seed, epoch)).permutation(n)``.
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int, world_size: int,
                 shuffle: bool = True, seed: int = 0):
        for name, value, low in (("num_samples", num_samples, 1),
                                 ("batch_size", batch_size, 1),
                                 ("world_size", world_size, 1)):
            if not isinstance(value, (int, numpy.integer)) or value < low:
                raise ValueError(f"DistributedSampler: {name} must be an int >= {low}, "
                                 f"got {value!r}")
        if not isinstance(rank, (int, numpy.integer)) or not 0 <= rank < world_size:
            raise ValueError(f"DistributedSampler: rank must be in 0..{world_size - 1}, "
                             f"got {rank!r}")
        if shuffle and num_samples < world_size:
            raise ValueError(f"DistributedSampler: {num_samples} samples cannot give each "
                             f"of {world_size} ranks one; use fewer ranks")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.rank, self.world_size = int(rank), int(world_size)
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def batches(self) -> list:
        """This rank's batches for the current epoch: a list of index arrays."""
        n, G = self.num_samples, self.global_batch_size
        if not self.shuffle:
            # evaluation: one contiguous block per rank, batched by B
            block = numpy.array_split(numpy.arange(n), self.world_size)[self.rank]
            return [block[i:i + self.batch_size] for i in range(0, len(block), self.batch_size)]
        order = numpy.random.default_rng((self.seed, self.epoch)).permutation(n)
        out = []
        for start in range(0, n, G):
            chunk = order[start:start + G]     # one global batch
            if len(chunk) < self.world_size:
                break                          # too few images for one per rank
            if len(chunk) == G:
                out.append(chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size])
            else:
                out.append(numpy.array_split(chunk, self.world_size)[self.rank])
        return out

    def __len__(self) -> int:
        if not self.shuffle:
            block = len(numpy.array_split(numpy.arange(self.num_samples),
                                          self.world_size)[self.rank])
            return math.ceil(block / self.batch_size)
        full, rest = divmod(self.num_samples, self.global_batch_size)
        return full + (1 if rest >= self.world_size else 0)

    def __iter__(self):
        return iter(self.batches())


class ShardedLoader:
    """A DataLoader's batches, restricted to this rank's shard.

    ``loader``'s dataset, batch size (per rank), transform, seed and device
    are kept; its shuffle decides between the training and evaluation split.
    ``set_epoch``, ``state_dict`` and ``load_state_dict`` are the DataLoader's
    (seed and epoch, the same on every rank), so a checkpoint resumes with any
    number of ranks.
    """

    def __init__(self, loader: DataLoader, rank: int, world_size: int):
        if not isinstance(loader, DataLoader):
            raise TypeError(f"ShardedLoader: expected a minicnn DataLoader, got "
                            f"{type(loader).__name__}")
        self.loader = loader
        self.sampler = DistributedSampler(len(loader.dataset), loader.batch_size, rank,
                                          world_size, shuffle=loader.shuffle,
                                          seed=loader.seed)

    @property
    def dataset(self):
        return self.loader.dataset

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        # The shard's indices in step order, walked by a plain DataLoader (no
        # shuffle) with batch B: every step but the last takes exactly B, and the
        # last (from array_split) takes at most B, so the cuts fall where they should.
        self.sampler.seed, self.sampler.epoch = self.loader.seed, self.loader.epoch
        batches = self.sampler.batches()
        if not batches:
            return iter(())
        walker = _ShardWalker(Subset(self.loader.dataset, numpy.concatenate(batches)),
                              batch_size=self.loader.batch_size,
                              transform=self.loader.transform, seed=self.loader.seed,
                              device=self.loader.device)
        walker.rank = self.sampler.rank
        walker.set_epoch(self.loader.epoch)
        return iter(walker)


class _ShardWalker(DataLoader):
    """A DataLoader whose augmentation generator is this rank's own."""

    rank = 0

    def generator(self) -> numpy.random.Generator:
        return numpy.random.default_rng((self.seed, self.epoch, self.rank))
