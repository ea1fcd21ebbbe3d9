"""minicnn.distributed on a real GPU: CuPy arrays through NCCL (or MPI with a host copy
when CuPy has no NCCL), in a job of one rank, and DistributedDataParallel on a
CUDA model. Runs only with MINICNN_GPU_TESTS=1 on a GPU machine (make test-gpu)."""
import numpy
import pytest

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[test]')")


@pytest.fixture
def dist(cp):
    import minicnn.distributed as dist
    dist.init(timeout=60)
    return dist


def test_cupy_all_reduce_and_broadcast_take_the_gpu_engine(cp, dist):
    from minicnn.distributed.comm import nccl_module
    a = cp.arange(6, dtype=cp.float32)
    engine = dist.collective_engine(a)
    assert engine == ("nccl" if nccl_module() is not None else "mpi-host-copy")
    with pytest.warns(UserWarning) if engine == "mpi-host-copy" else _no_warning():
        dist.all_reduce(a, op="sum")
    numpy.testing.assert_array_equal(cp.asnumpy(a), numpy.arange(6) * dist.world_size())
    b = cp.full(3, 7.0, dtype=cp.float64)
    dist.broadcast(b, root=0)
    numpy.testing.assert_array_equal(cp.asnumpy(b), [7.0, 7.0, 7.0])
    with pytest.raises(TypeError, match="dtype complex64 cannot be reduced"):
        dist.all_reduce(cp.ones(2, dtype=cp.complex64))

def test_ddp_on_a_cuda_model_keeps_the_single_rank_gradient(cp, dist):
    import minicnn
    from minicnn import nn
    from minicnn.autograd import Tensor
    from minicnn.functional import cross_entropy
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).to("cuda")
    ddp = dist.DistributedDataParallel(model)
    x = Tensor(cp.asarray(numpy.random.default_rng(0).standard_normal((5, 1, 4, 4)),
                          dtype=cp.float32))
    y = Tensor(cp.asarray([0, 1, 2, 3, 0]))
    cross_entropy(ddp(x), y).backward()
    before = [cp.asnumpy(p.grad).copy() for p in model.parameters()]
    ddp.sync_gradients()
    for g, p in zip(before, model.parameters()):   # one rank: the average is itself
        numpy.testing.assert_allclose(cp.asnumpy(p.grad), g, rtol=1e-6)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
