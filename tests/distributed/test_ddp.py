"""minicnn/distributed/ddp.py: rank 0's weights broadcast at the start, gradient
buckets, and the central property: n ranks with batch B follow one process with
batch n*B (a model without BatchNorm), up to float summation order."""
import importlib.util

import numpy
import pytest

from minicnn.data import DataLoader
from minicnn.distributed import plan_buckets


def _worker(path):
    spec = importlib.util.spec_from_file_location("mpi_worker", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_buckets_keeps_order_splits_by_size_and_dtype():
    f32 = [numpy.zeros(n, numpy.float32) for n in (10, 10, 30, 5)]   # 40, 40, 120, 20 bytes
    assert plan_buckets(f32, cap_bytes=80) == [[0, 1], [2], [3]]
    assert plan_buckets(f32, cap_bytes=10 ** 6) == [[0, 1, 2, 3]]
    mixed = [numpy.zeros(2, numpy.float32), numpy.zeros(2, numpy.float64),
             numpy.zeros(2, numpy.float64)]
    assert plan_buckets(mixed, cap_bytes=10 ** 6) == [[0], [1, 2]]
    assert plan_buckets([], cap_bytes=8) == []
    with pytest.raises(ValueError, match="cap_bytes must be a positive int, got 0"):
        plan_buckets(f32, cap_bytes=0)


def test_ddp_needs_init_first():
    import minicnn.distributed as dist
    from minicnn import nn
    if dist.is_initialized():
        pytest.skip("this process already joined MPI")
    with pytest.raises(dist.DistributedError, match=r"init\(\) first"):
        dist.DistributedDataParallel(nn.Linear(2, 2))


def test_initial_weights_and_buffers_are_rank_0s(run_worker):
    r0, r1 = run_worker(2, "broadcast")
    keys = [k[len("after."):] for k in r0 if k.startswith("after.")]
    assert "1.running_mean" in keys and "0.weight" in keys
    assert not numpy.array_equal(r0["before.0.weight"], r1["before.0.weight"])
    for k in keys:
        numpy.testing.assert_array_equal(r0[f"after.{k}"], r0[f"before.{k}"])
        numpy.testing.assert_array_equal(r1[f"after.{k}"], r0[f"before.{k}"])
    assert int(r0["buckets"]) == 4   # a tiny cap: one bucket per parameter


def test_two_ranks_follow_one_process_with_the_global_batch(run_worker, worker_script):
    """2 ranks x batch 8 for two epochs == 1 process x batch 16, weights within float32
    rounding. 99 images: the last global batch (3) is split 2 + 1, so the gradient
    weighting by local batch size is exercised too."""
    w = _worker(worker_script)
    t = w.TRAJECTORY
    ranks = run_worker(2, "trajectory")
    single = w.small_cnn(seed=100)          # rank 0's seed: DDP broadcast its weights
    loader = DataLoader(w.digits_like(t["n"]), 2 * t["batch_size"], shuffle=True,
                        seed=t["seed"])
    w.train(single, loader, t["epochs"], t["lr"], t["momentum"])
    start = w.small_cnn(seed=100).state_dict()
    for name, value in single.state_dict().items():
        assert not numpy.allclose(value, start[name]), f"{name} did not train"
        for r in ranks:
            numpy.testing.assert_allclose(r[name], value, rtol=2e-4, atol=2e-5,
                                          err_msg=name)
    for name in ranks[0]:
        numpy.testing.assert_array_equal(ranks[0][name], ranks[1][name])
