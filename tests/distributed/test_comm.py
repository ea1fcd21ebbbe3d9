"""minicnn/distributed/comm.py: the collectives, their argument checks, the engine
choice (MPI, NCCL, host copy) and the timeouts that end a job whose rank died."""
import sys
import time
import types

import numpy
import pytest

import minicnn.distributed as dist
from minicnn.distributed import comm


# ------------------------------------------------- without MPI (in this process)
def test_all_reduce_checks_its_arguments_before_anything_else():
    with pytest.raises(TypeError, match="expected a NumPy or CuPy array, got list"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="C-contiguous"):
        dist.all_reduce(numpy.ones((4, 4))[:, ::2])
    with pytest.raises(ValueError, match="op must be one of sum, mean, max, min, got 'avg'"):
        dist.all_reduce(numpy.ones(3), op="avg")
    with pytest.raises(TypeError, match="op='mean' needs a float array"):
        dist.all_reduce(numpy.ones(3, dtype=numpy.int64), op="mean")
    with pytest.raises(TypeError, match="dtype object cannot be reduced"):
        dist.broadcast(numpy.array([None, 1]))


@pytest.mark.skipif(dist.is_initialized(), reason="this process already joined MPI")
def test_collectives_before_init_name_the_fix():
    with pytest.raises(dist.DistributedError, match=r"call minicnn.distributed.init\(\)"):
        dist.all_reduce(numpy.ones(3))
    with pytest.raises(dist.DistributedError, match="not initialised"):
        dist.barrier()
    assert dist.rank() == 0 and dist.world_size() == 1


def test_init_without_mpi4py_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # makes `import mpi4py` fail
    monkeypatch.setattr(comm._State, "comm", None)
    with pytest.raises(dist.DistributedError, match=r"needs mpi4py.*pip install -e "
                                                    r"'\.\[distributed\]'") as e:
        dist.init()
    assert "\n" not in str(e.value)


def test_init_rejects_a_bad_timeout():
    with pytest.raises(dist.DistributedError, match="timeout must be a positive number"):
        dist.init(timeout=0)


class _FakeCupyArray:
    """Looks like a CuPy array to is_cupy_array (its class lives in 'cupy')."""


_FakeCupyArray.__module__ = "cupy._core.core"


def test_engine_numpy_uses_mpi_and_cupy_prefers_nccl(monkeypatch):
    assert dist.collective_engine(numpy.ones(2)) == "mpi"
    monkeypatch.setattr(comm, "nccl_module", lambda: types.SimpleNamespace())
    assert dist.collective_engine(_FakeCupyArray()) == "nccl"
    monkeypatch.setattr(comm, "nccl_module", lambda: None)
    assert dist.collective_engine(_FakeCupyArray()) == "mpi-host-copy"


def test_nccl_dtype_maps_numpy_dtypes_and_names_the_unsupported():
    fake = types.SimpleNamespace(NCCL_FLOAT32=7, NCCL_FLOAT64=8, NCCL_INT64=4,
                                 NCCL_FLOAT16=6, NCCL_INT32=2, NCCL_UINT8=1)
    assert comm.nccl_dtype(fake, numpy.float32) == 7
    assert comm.nccl_dtype(fake, numpy.dtype("int64")) == 4
    with pytest.raises(TypeError, match="NCCL cannot reduce dtype complex64"):
        comm.nccl_dtype(fake, numpy.complex64)


# ------------------------------------------------------ real jobs: mpiexec -n 2
def test_collectives_on_two_ranks(run_worker):
    r0, r1 = run_worker(2, "broadcast")
    for r in (r0, r1):
        numpy.testing.assert_array_equal(r["sum"], [3.0, 3.0, 3.0])     # 1 + 2
        numpy.testing.assert_array_equal(r["mean"], [0.5, 0.5])         # (0 + 1) / 2
        numpy.testing.assert_array_equal(r["max"], [1, 0])
        numpy.testing.assert_array_equal(r["bcast"], [10.0] * 4)        # root = rank 1


def test_a_killed_rank_ends_the_job_with_a_message(run_mpi, worker_script, tmp_path):
    start = time.monotonic()
    proc = run_mpi(2, [sys.executable, worker_script, "die", str(tmp_path)], check=False,
                   timeout=90, MINICNN_DIST_TIMEOUT="20")
    assert proc.returncode != 0
    assert time.monotonic() - start < 90
    text = proc.stdout + proc.stderr
    # mpiexec (hydra) reports the dead rank and kills the others; else our timeout fires
    assert "BAD TERMINATION" in text or "timed out" in text, text[-2000:]


def test_a_stuck_rank_times_out_with_a_one_line_message(run_mpi, worker_script, tmp_path):
    proc = run_mpi(2, [sys.executable, worker_script, "hang", str(tmp_path)], check=False,
                   timeout=90, MINICNN_DIST_TIMEOUT="3")
    assert proc.returncode != 0
    assert ("minicnn.distributed: rank 0/2: all_reduce timed out after 3s waiting for "
            "the other ranks") in proc.stderr, proc.stderr[-2000:]
