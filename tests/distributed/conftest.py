"""Helpers for tests that launch real MPI jobs: ``mpiexec -n N`` in a subprocess.

mpiexec is looked up beside the test's Python first (the mpich wheel of the
test extra installs it into the virtualenv's bin/), then on PATH. Without
mpi4py or mpiexec the MPI tests are skipped, saying what to install.
"""
import os
import shutil
import subprocess
import sys

import pytest

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_worker.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_mpiexec():
    """The mpiexec of this virtualenv, else the first on PATH, else None."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("mpiexec")


def _mpi_or_reason():
    try:
        import mpi4py  # noqa: F401  (only checks that it is installed)
    except ImportError:
        return None, "mpi4py is not installed (pip install -e '.[test]' installs it)"
    mpiexec = find_mpiexec()
    if mpiexec is None:
        return None, "no mpiexec beside Python or on PATH (pip install mpich)"
    return mpiexec, None


@pytest.fixture(scope="session")
def mpiexec():
    path, reason = _mpi_or_reason()
    if path is None:
        pytest.skip(reason)
    return path


def mpi_env(**extra):
    """The environment of an MPI job: one BLAS thread per rank, a short timeout."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", MINICNN_DIST_TIMEOUT="60")
    env.update(extra)
    return env


@pytest.fixture
def run_mpi(mpiexec):
    """run_mpi(n, args, timeout=..., env=...) -> CompletedProcess of ``mpiexec -n n ...``."""
    def run(n, args, timeout=120, check=True, **env):
        cmd = [mpiexec, "-n", str(n), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=mpi_env(**env), cwd=REPO)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc
    return run


@pytest.fixture
def run_worker(run_mpi, tmp_path):
    """run_worker(n, scenario) -> [rank0 arrays, rank1 arrays, ...] from mpi_worker.py."""
    import numpy

    def run(n, scenario, **kwargs):
        run_mpi(n, [sys.executable, WORKER, scenario, str(tmp_path)], **kwargs)
        return [dict(numpy.load(tmp_path / f"rank{r}.npz")) for r in range(n)]
    return run


@pytest.fixture(scope="session")
def worker_script():
    """The path of mpi_worker.py (its scenarios are what the MPI jobs run)."""
    return WORKER
