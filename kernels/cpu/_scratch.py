"""Reusable scratch buffers for the kernels' temporaries (column matrices).

A convolution needs a few large temporaries per call: the column buffer, its
gradient, the GEMM output. Allocating them afresh each call costs more than it
seems: glibc returns big freed blocks to the kernel, so every call page-faults
its buffers in again, and when two threads touch fresh pages at once they queue
on the process's page-table lock. On LeNet-5's conv2 (batch 64) that doubled
the time of im2col (1.15 ms into a reused buffer, 2.5 ms into a fresh one).

So each Python thread keeps one buffer per named slot and hands out views of
it. Only temporaries that never leave the kernel may live here: results are
always fresh arrays. A buffer is kept only while it is no larger than both
``KEEP_BELOW`` and the workspace limit (``minicnn.set_workspace``): a large
layer's arithmetic dwarfs its page faults, and lowering the workspace frees
what was kept above it. ``release()`` drops this thread's buffers.

``minicnn.retain_freed_memory()`` solves the same problem for every array of
a step, but it changes the whole process's allocator and is opt-in; these
buffers keep the convolution's own temporaries fast without it.
"""
import threading

import numpy

from minicnn.backend import get_workspace

__all__ = ["scratch", "release", "KEEP_BELOW"]

# buffers up to this size are kept between calls (per slot and thread)
KEEP_BELOW = 64 << 20

_local = threading.local()  # .buffers: {slot: 1-D uint8 array}


def _buffers() -> dict:
    if not hasattr(_local, "buffers"):
        _local.buffers = {}
    return _local.buffers


def scratch(slot: str, n: int, dtype) -> numpy.ndarray:
    """A 1-D array of ``n`` elements of ``dtype``, contents undefined.

    The same memory comes back on the next call with the same ``slot`` from
    this thread, so a caller must be done with one slot's array before asking
    for that slot again.
    """
    dtype = numpy.dtype(dtype)
    nbytes = n * dtype.itemsize
    limit = min(KEEP_BELOW, get_workspace())
    buffers = _buffers()
    for name in [name for name, raw in buffers.items() if raw.size > limit]:
        del buffers[name]  # kept under a larger workspace limit
    if nbytes > limit:
        return numpy.empty(n, dtype=dtype)
    raw = buffers.get(slot)
    if raw is None or raw.size < nbytes:
        raw = numpy.empty(nbytes, dtype=numpy.uint8)
        buffers[slot] = raw
    return raw[:nbytes].view(dtype)


def release() -> None:
    """Drop this thread's kept buffers (their memory goes back when unused)."""
    _buffers().clear()
