"""CPU threads: one knob for NumPy's BLAS and Numba's pools, and OpenMP's idle policy.

minicnn's matrices are small (one batch of im2col columns at a time): on a
2-core machine a second thread often costs more in synchronisation than it
gives, and when another process is busy on the other core, threads that wait
for each other make training many times slower. ``limit_threads(n)`` caps both
pools; ``restore()`` (or leaving the ``with`` block) puts them back.

Two process-wide choices are made once, on import: idle OpenMP threads sleep
(``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy), and, when an OpenMP
runtime was loaded before minicnn (torch imported first) and TBB is installed,
Numba runs on its TBB pool instead of that runtime
(``choose_numba_threading_layer``).
"""
from __future__ import annotations

import os
import sys

__all__ = ["ThreadLimit", "limit_threads", "OPENMP_LOADED_BEFORE_MINICNN",
           "USER_OMP_WAIT_POLICY", "openmp_runtimes_loaded", "tbb_library",
           "choose_numba_threading_layer", "NUMBA_LAYER_CHOSEN"]


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
# binds to it) has already read its policy: too late for this default. Then
# choose_numba_threading_layer (below) moves Numba to TBB where it can, and
# minicnn.backend warns when it loads the numba kernels where it cannot.
OPENMP_LOADED_BEFORE_MINICNN = (
    [] if "OMP_WAIT_POLICY" in os.environ else openmp_runtimes_loaded())
# what the user's environment said, before the default below (None: unset);
# a child process that must start as the user's would (the import-order
# benchmark) gets this back
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def tbb_library() -> str | None:
    """The path of Intel TBB's ``libtbb.so.12`` in this environment (the PyPI
    ``tbb`` wheel, which the ``numba`` extra installs, puts it in
    ``sys.prefix/lib``; conda too), else None."""
    for directory in dict.fromkeys((os.path.join(sys.prefix, "lib"),
                                    os.path.join(sys.base_prefix, "lib"))):
        path = os.path.join(directory, "libtbb.so.12")
        if os.path.isfile(path):
            return path
    return None


def choose_numba_threading_layer() -> str | None:
    """Move Numba's parallel kernels off an OpenMP runtime that spins.

    With minicnn imported first, Numba runs on OpenMP with sleeping idle threads
    (the policy set above). When an OpenMP runtime was already loaded (torch
    imported first), Numba would share that runtime, whose idle threads spin
    for milliseconds after every parallel loop and take the cores from the
    BLAS GEMM that follows. Then, if TBB is installed, Numba is switched to its
    TBB threading layer, which has its own pool and is not affected by the
    foreign runtime's policy.

    Runs once, when minicnn is imported: Numba starts its pool at the first
    parallel loop or thread-count call, and the layer cannot change after
    that. Leaves things alone if the user chose a layer
    (``NUMBA_THREADING_LAYER``) or a wait policy, or if Numba's pool already
    started. Returns the layer it set, or None.
    """
    if not OPENMP_LOADED_BEFORE_MINICNN or "NUMBA_THREADING_LAYER" in os.environ:
        return None
    path = tbb_library()
    if path is None:
        return None
    try:
        import numba
        from numba.np.ufunc import parallel
    except ImportError:
        return None
    if parallel._is_initialized or numba.config.THREADING_LAYER != "default":
        return None
    import ctypes
    try:
        # Numba's TBB pool links libtbb.so.12 by name; loading it globally here
        # lets that name resolve to the wheel's copy, which is not on the
        # loader's search path
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return None
    numba.config.THREADING_LAYER = "tbb"
    return "tbb"


# the layer minicnn chose for Numba at import ("tbb"), or None: Numba's default
NUMBA_LAYER_CHOSEN = choose_numba_threading_layer()


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
