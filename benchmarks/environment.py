"""What machine a benchmark ran on, and the machine-level measurements.

- ``describe()``: CPU model, cores, threads, library versions and the BLAS
  kernel that ran (OpenBLAS's core type: OPENBLAS_CORETYPE can force an older
  kernel, which halves sgemm speed against an AVX-512 build), GPU when present.
- ``sgemm_peak()``: this machine's measured float32 GEMM rate, the ceiling that
  convolution GFLOP/s are compared against.
- ``limit_threads(n)``: the same thread count for NumPy's BLAS, Numba and torch.
- ``PeakMemory``: peak resident memory (and GPU memory) during a block.
"""
from __future__ import annotations

import contextlib
import os
import platform
import threading
import time

import numpy

__all__ = ["describe", "sgemm_peak", "limit_threads", "PeakMemory", "blas_info"]

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl's view)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keep = ("user_api", "internal_api", "version", "architecture", "num_threads",
            "filepath")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()
            if lib.get("user_api") == "blas"]


def _version(module: str):
    try:
        return __import__(module).__version__
    except Exception:
        return None


def _gpu() -> dict | None:
    from minicnn.backend import BackendUnavailableError, check_backend, cupy_module
    try:
        check_backend("cuda")
    except BackendUnavailableError as e:
        return {"available": False, "reason": str(e)}
    cupy = cupy_module()
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return {"available": True, "name": name.decode() if isinstance(name, bytes) else name,
            "memory_bytes": int(props["totalGlobalMem"]),
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion()}


def describe(threads: int | None = None) -> dict:
    """A JSON-able description of the machine and software."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": _version("numba"),
        "torch": _version("torch"),
        "cupy": _version("cupy"),
        "blas": blas_info(),
        "blas_env": {k: os.environ.get(k) for k in BLAS_ENV if os.environ.get(k)},
        "gpu": _gpu(),
        "date": time.strftime("%Y-%m-%d"),
    }


def sgemm_peak(n: int = 1024, repeat: int = 5) -> float:
    """Measured float32 GEMM rate of NumPy's BLAS in GFLOP/s (best of ``repeat``)."""
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=numpy.float32)
    b = rng.standard_normal((n, n), dtype=numpy.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


@contextlib.contextmanager
def limit_threads(n: int | None):
    """Run the block with ``n`` threads for BLAS, Numba and torch alike."""
    if n is None:
        yield
        return
    from minicnn.runtime.threads import limit_threads as limit_minicnn_threads
    with limit_minicnn_threads(n):
        try:
            import torch
        except ImportError:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


class PeakMemory:
    """Peak resident memory above the starting point during a ``with`` block.

    A background thread samples the process's RSS every ``interval`` seconds
    (psutil; /proc/self/statm without it). GPU memory is read from CuPy's pool
    and torch's allocator when they are in use.
    """

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak_bytes = 0          # above the RSS at the start of the block
        self.peak_total_bytes = 0    # the process's whole RSS at its peak
        self.gpu_peak_bytes = None

    @staticmethod
    def rss() -> int:
        try:
            import psutil
            return psutil.Process().memory_info().rss
        except ImportError:
            with open("/proc/self/statm", encoding="utf-8") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self):
        while not self._stop.is_set():
            self._max = max(self._max, self.rss())
            time.sleep(self.interval)

    def __enter__(self):
        self._base = self.rss()
        self._max = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, self.rss())
        self.peak_bytes = self._max - self._base
        self.peak_total_bytes = self._max
        return False
