"""One knob for CPU threads: NumPy's BLAS and Numba's parallel kernels together.

minicnn's matrices are small (one batch of im2col columns at a time): on a
2-core machine a second thread often costs more in synchronisation than it
gives, and when another process is busy on the other core, threads that wait
for each other make training many times slower. ``limit_threads(n)`` caps both
pools; ``restore()`` (or leaving the ``with`` block) puts them back.
"""
from __future__ import annotations

import sys

__all__ = ["ThreadLimit", "limit_threads"]


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
