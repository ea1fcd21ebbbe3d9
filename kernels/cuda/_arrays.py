"""Small helpers shared by the kernel wrappers: flat views and launch geometry."""
from __future__ import annotations

from minicnn.backend import get_array_module, is_cupy_array

__all__ = ["flat", "on_gpu"]


def flat(a, dtype=None):
    """``a`` as a C-contiguous 1-D array (a view when it already is contiguous).

    The kernels index every array as one flat buffer in C order.
    """
    xp = get_array_module(a)
    return xp.ascontiguousarray(a, dtype=dtype).reshape(-1)


def on_gpu(a) -> bool:
    """True for CuPy data: launch a real grid; False: NumPy data, simulator."""
    return is_cupy_array(a)
