"""Compiling and launching the GPU kernels: CUDA C through CuPy, or Numba CUDA.

Every hot loop exists twice, with the same name, arguments and thread layout:

- CUDA C in ``<family>.cu`` (im2col.cu, pooling.cu, ...), compiled at run time
  by CuPy's ``RawModule`` (NVRTC) once per (file, dtype) and cached;
- Python in ``numba_kernels.py``, compiled by Numba's CUDA target (or run by
  its simulator when ``NUMBA_ENABLE_CUDASIM=1``).

``launch(family, name, grid, block, args)`` runs the CUDA C kernel on CuPy
arrays (the default, ``set_kernel_source('cupy')``) and the Numba kernel
otherwise: on NumPy arrays (the simulator, in the tests) or on CuPy arrays
after ``set_kernel_source('numba')``, for comparing the two side by side.

The .cu files are self-contained except for one line the loader prepends,
``typedef float real_t;`` (or double): the element type. Integer arguments
are ``long long`` and floating scalars ``double`` unless a kernel says
``real_t``; ``launch`` converts Python numbers to match.
"""
from __future__ import annotations

import functools
import os

import numpy

from minicnn.backend import cupy_module, is_cupy_array
from minicnn.settings import settings

__all__ = [
    "SOURCE_DIR", "FAMILIES", "C_TYPES", "cuda_source", "set_kernel_source",
    "get_kernel_source", "launch", "grid_for", "reduce_block",
]

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
# family -> its .cu file; every kernel name lives in exactly one family
FAMILIES = ("im2col", "pooling", "lrn", "batch_norm", "softmax_ce", "elementwise")
C_TYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}

def set_kernel_source(name: str) -> None:
    """Who runs the loops on CuPy arrays: 'cupy' (CUDA C, default) or 'numba'."""
    if name not in ("cupy", "numba"):
        raise ValueError(f"set_kernel_source: expected 'cupy' or 'numba', got {name!r}")
    settings.cuda_kernel_source = name


def get_kernel_source() -> str:
    return settings.cuda_kernel_source


def cuda_source(family: str, dtype) -> str:
    """The CUDA C text of ``family`` for element type ``dtype`` (float32/float64)."""
    dtype = numpy.dtype(dtype)
    if dtype not in C_TYPES:
        raise TypeError(f"cuda kernels: dtype {dtype} is not supported "
                        f"(expected float32 or float64)")
    with open(os.path.join(SOURCE_DIR, family + ".cu"), encoding="utf-8") as f:
        body = f.read()
    return f"typedef {C_TYPES[dtype]} real_t;\n" + body


@functools.lru_cache(maxsize=None)
def _raw_module(family: str, dtype_str: str):
    """Compile ``family`` for one dtype, once (CuPy also caches it on disk)."""
    cupy = cupy_module()
    return cupy.RawModule(code=cuda_source(family, dtype_str), options=("--std=c++11",))


@functools.lru_cache(maxsize=None)
def _raw_function(family: str, dtype_str: str, name: str):
    """Kernel ``name`` of the compiled ``family`` (looked up once)."""
    return _raw_module(family, dtype_str).get_function(name)


def _on_simulator() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def reduce_block(length: int, on_gpu: bool) -> int:
    """Threads per block for the one-block-per-row reductions: a power of two,
    at most 256 (the kernels' shared array), at most ``length`` rounded up.
    The simulator runs every thread as a Python thread, so it gets few."""
    limit = 256 if on_gpu and not _on_simulator() else 4
    block = 1
    while block < limit and block < length:
        block *= 2
    return block


def grid_for(total: int, on_gpu: bool) -> tuple[int, int]:
    """(blocks, threads per block) for a grid-stride loop over ``total`` items."""
    if on_gpu and not _on_simulator():
        block, max_blocks = 256, 65535
    else:
        block, max_blocks = 8, 2  # simulator: few threads, each loops more
    blocks = max(1, min((total + block - 1) // block, max_blocks))
    return blocks, block


def _c_arg(a):
    """Python numbers as the C types the kernels declare (long long, double)."""
    if isinstance(a, bool):
        return numpy.int64(a)
    if isinstance(a, int):
        return numpy.int64(a)
    if isinstance(a, float):
        return numpy.float64(a)
    return a


def launch(family: str, name: str, grid: int, block: int, args, dtype) -> None:
    """Run kernel ``name`` of ``family`` over ``grid`` blocks of ``block`` threads.

    Arrays in ``args`` must be C-contiguous; the CUDA C kernel is picked by
    the element type ``dtype``.
    """
    arrays = [a for a in args if hasattr(a, "shape")]
    if any(is_cupy_array(a) for a in arrays) and settings.cuda_kernel_source == "cupy":
        function = _raw_function(family, numpy.dtype(dtype).str, name)
        function((grid,), (block,), tuple(_c_arg(a) for a in args))
        return
    # numba.cuda (or its simulator) loads only when a Numba twin is asked for
    from minicnn.kernels.cuda import numba_kernels
    getattr(numba_kernels, name)[grid, block](*(_c_arg(a) for a in args))
