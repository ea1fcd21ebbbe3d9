"""CPU threads: one knob for NumPy's BLAS and Numba's pools, and OpenMP's idle policy.

minicnn's matrices are small (one batch of im2col columns at a time): on a
2-core machine a second thread often costs more in synchronisation than it
gives, and when another process is busy on the other core, threads that wait
for each other make training many times slower. ``limit_threads(n)`` caps both
pools; ``restore()`` (or leaving the ``with`` block) puts them back.
"""
from __future__ import annotations

import os
import sys

__all__ = ["ThreadLimit", "limit_threads", "OPENMP_LOADED_BEFORE_MINICNN",
           "USER_OMP_WAIT_POLICY", "openmp_runtimes_loaded"]


def openmp_runtimes_loaded() -> list:
    """File names of the OpenMP runtimes already mapped into this process
    (read from /proc/self/maps; an empty list where that does not exist)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    names = {os.path.basename(path) for path in paths}
    return sorted(n for n in names if n.startswith(("libgomp", "libiomp", "libomp")))


# Numba's parallel kernels run on an OpenMP pool whose idle threads spin after
# each loop by default, and so do OpenBLAS's after each GEMM: with both pools at
# full size on a small machine they take the cores from each other (a LeNet
# step ran 8x slower). Sleeping idle threads avoid that. OpenMP reads this when
# its runtime loads, so it is set when minicnn is imported (minicnn.backend
# imports this module first), before numba can start its pool; a policy the
# user chose is kept.
#
# A runtime loaded before us (torch brings its own libgomp, and numba's pool then
# binds to it) has already read its policy: too late for this default, so
# minicnn.backend warns when it loads the numba kernels.
OPENMP_LOADED_BEFORE_MINICNN = (
    [] if "OMP_WAIT_POLICY" in os.environ else openmp_runtimes_loaded())
# what the user's environment said, before the default below (None: unset);
# a child process that must start as the user's would (the import-order
# benchmark) gets this back
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class ThreadLimit:
    """Caps BLAS (through threadpoolctl) and Numba to ``n`` threads until restored."""

    def __init__(self, n: int):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"limit_threads: expected a positive number of threads, got {n!r}")
        self.n = n
        self._undo = []
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass  # an optional dependency: BLAS keeps its own default
        else:
            limiter = threadpool_limits(limits=n)
            self._undo.append(limiter.restore_original_limits)
        numba = sys.modules.get("numba")
        if numba is None:
            try:
                import numba
            except ImportError:
                numba = None
        if numba is not None:
            previous = numba.get_num_threads()
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            self._undo.append(lambda: numba.set_num_threads(previous))

    def restore(self) -> None:
        """Put the thread pools back as they were (idempotent)."""
        while self._undo:
            self._undo.pop()()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()
        return False


def limit_threads(n: int) -> ThreadLimit:
    """``with limit_threads(1): ...``: BLAS and Numba on ``n`` threads in the block."""
    return ThreadLimit(n)
