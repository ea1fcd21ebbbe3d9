"""Keep freed memory in the process between training steps (glibc's malloc).

Every training step allocates and frees the same large arrays: activations,
their gradients, column buffers. glibc hands out requests above its mmap
threshold (128 KiB at first, raised adaptively) as fresh pages from the kernel
and gives them back on free, and it returns the free top of its heap once that
exceeds the trim threshold. The next step then faults every page in again,
one 4 KiB page at a time, and threads that fault at once queue on the
process's page-table lock. On the development VM that took a numba LeNet-5
training step (batch 64) from 10.5-13.6 ms to 17.2-17.7 ms (two runs).

``retain_freed_memory()`` raises both thresholds with ``mallopt``: requests up
to 32 MiB come from the heap, and up to 1 GiB of freed heap is kept for the
next step, as a caching allocator would. It changes the whole process's
allocator, so minicnn does not do it on import; its own command line (train,
eval, predict, demo, bench) calls it, and a script that trains calls it once.
Elsewhere than glibc (macOS, musl, Windows) it does nothing and says so.
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["retain_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

# mallopt parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20   # requests below this come from the heap (glibc's maximum)
TRIM_THRESHOLD = 1 << 30    # free heap kept before any is returned to the kernel


def _glibc():
    """glibc as a ctypes library, or None when the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # only glibc has it: AttributeError elsewhere
        return libc
    except (OSError, AttributeError):
        return None


def retain_freed_memory() -> bool:
    """Keep freed memory for reuse instead of returning it to the kernel.

    Returns True when glibc accepted both settings, False where the C library
    is not glibc (nothing is changed then).
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
