"""How many threads a parallel kernel gets: one for small work, all for large.

Starting a parallel region costs microseconds on an idle machine but can cost
milliseconds when the cores are busy (a thread waits to be scheduled at every
barrier). A kernel over a few thousand numbers is faster on one thread, so
every wrapper of a parallel kernel calls ``use_threads_for(work)`` first.

"All" is what the user last set with ``numba.set_num_threads`` (numba's
setting is per Python thread), else ``NUMBA_NUM_THREADS``: a benchmark that
limits numba to 2 threads keeps that limit.
"""
import threading

import numba

__all__ = ["use_threads_for", "SERIAL_BELOW"]

# below this many elements of work a kernel runs on one thread
SERIAL_BELOW = 1 << 16

_local = threading.local()  # .limit: the user's thread count; .ours: what we last set


def use_threads_for(work):
    """Set numba's thread count (for this thread) for a kernel touching ``work`` elements."""
    current = numba.get_num_threads()
    if current != getattr(_local, "ours", None):
        _local.limit = current  # set by someone else since our last call: the user's limit
    n = 1 if work < SERIAL_BELOW else _local.limit
    if n != current:
        numba.set_num_threads(n)
    _local.ours = n
