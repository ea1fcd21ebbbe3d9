"""minicnn/distributed/sampler.py: disjoint shards of one seeded permutation; the
global batch of step s is the single-process batch of step s."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.data import ArrayDataset, DataLoader
from minicnn.distributed import DistributedSampler, ShardedLoader


@given(n=st.integers(1, 60), B=st.integers(1, 9), world=st.integers(1, 4),
       seed=st.integers(0, 5), epoch=st.integers(0, 3))
def test_global_batches_are_the_single_process_batches(n, B, world, seed, epoch):
    if n < world:
        return
    samplers = [DistributedSampler(n, B, r, world, seed=seed) for r in range(world)]
    for s in samplers:
        s.set_epoch(epoch)
    per_rank = [s.batches() for s in samplers]
    steps = len(per_rank[0])
    assert all(len(b) == steps == len(s) for b, s in zip(per_rank, samplers))
    order = numpy.random.default_rng((seed, epoch)).permutation(n)
    G = world * B
    for step in range(steps):
        joined = numpy.concatenate([per_rank[r][step] for r in range(world)])
        numpy.testing.assert_array_equal(joined, order[step * G:(step + 1) * G])
        assert all(len(per_rank[r][step]) >= 1 for r in range(world))
    seen = numpy.concatenate([b for batches in per_rank for b in batches])
    assert len(numpy.unique(seen)) == len(seen)             # disjoint shards
    dropped = n - len(seen)
    assert dropped == (n % G if n % G < world else 0)


@given(n=st.integers(1, 40), B=st.integers(1, 7), world=st.integers(1, 4))
def test_evaluation_shards_cover_everything_once(n, B, world):
    seen = [numpy.concatenate(DistributedSampler(n, B, r, world, shuffle=False).batches()
                              or [numpy.zeros(0, numpy.int64)]) for r in range(world)]
    numpy.testing.assert_array_equal(numpy.concatenate(seen), numpy.arange(n))
    for r in range(world):
        assert len(DistributedSampler(n, B, r, world, shuffle=False)) == \
            len(DistributedSampler(n, B, r, world, shuffle=False).batches())


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rank must be in 0..1, got 2"):
        DistributedSampler(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DistributedSampler(10, 0, rank=0, world_size=2)
    with pytest.raises(ValueError, match="3 samples cannot give each of 4 ranks one"):
        DistributedSampler(3, 1, rank=0, world_size=4)


def test_sharded_loader_yields_the_rank_slices_of_the_loader_batches():
    images = numpy.arange(22 * 4, dtype=numpy.float32).reshape(22, 1, 2, 2)
    data = ArrayDataset(images, numpy.arange(22))
    single = DataLoader(data, 6, shuffle=True, seed=7)
    shards = [ShardedLoader(DataLoader(data, 3, shuffle=True, seed=7), r, 2) for r in (0, 1)]
    for epoch in (0, 1):
        single.set_epoch(epoch)
        for s in shards:
            s.set_epoch(epoch)
        steps = list(zip(single, *shards))
        assert len(steps) == len(single) == len(shards[0]) == 4     # 22 = 3*6 + 4 (2 + 2)
        for (x, y), (x0, y0), (x1, y1) in steps:
            numpy.testing.assert_array_equal(numpy.concatenate([y0.data, y1.data]), y.data)
            numpy.testing.assert_array_equal(numpy.concatenate([x0.data, x1.data]), x.data)
    assert shards[1].state_dict() == {"seed": 7, "epoch": 1}
    with pytest.raises(TypeError, match="expected a minicnn DataLoader, got list"):
        ShardedLoader([1, 2], 0, 1)
