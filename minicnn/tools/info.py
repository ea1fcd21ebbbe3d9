"""``minicnn.info()``: what this machine runs minicnn on.

    >>> import minicnn
    >>> report = minicnn.info()        # prints one line per item, returns a dict
    minicnn            0.1.0
    python             3.11.7
    numpy              2.1.3
    BLAS               openblas 0.3.27 (architecture Haswell, 2 threads, pthreads)
    OPENBLAS_CORETYPE  not set
    numba              0.60.0
    cupy               not installed
    CUDA runtime       not installed (needs CuPy)
    ...
    backend            numba
    CPU ops run by     numba: all 18 hot loops (conv2d_forward, im2col, ...)
    data search path   /root/.cache/minicnn, /usr/share/datasets

Every item is present in the dict and on screen; what is missing says so
("not installed", "no GPU: <reason>") instead of raising. Nothing here
needs more than NumPy: numba, CuPy and threadpoolctl are looked for.
"""
from __future__ import annotations

import importlib
import os
import platform
import sys

import numpy

from minicnn.backend import get_backend, kernel_names, kernel_owner
from minicnn.data.datasets import search_roots
from minicnn.version import __version__

__all__ = ["info", "ops_by_owner", "backend_line"]

NOT_INSTALLED = "not installed"


def _version(module_name: str) -> str:
    try:
        return importlib.import_module(module_name).__version__
    except Exception:  # missing, or broken at import
        return NOT_INSTALLED


def _blas() -> dict:
    """NumPy's BLAS: threadpoolctl's view of the loaded library, else NumPy's build info."""
    try:
        from threadpoolctl import threadpool_info
        libraries = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except Exception:
        libraries = []
    if libraries:
        # several BLAS may be loaded (torch brings its own): prefer NumPy's
        ours = [lib for lib in libraries if "numpy" in str(lib.get("filepath", ""))]
        lib = (ours or libraries)[0]
        return {
            "internal_api": lib.get("internal_api", "unknown"),
            "version": lib.get("version") or "unknown",
            "architecture": lib.get("architecture") or "unknown",
            "threads": lib.get("num_threads"),
            "threading_layer": lib.get("threading_layer", "unknown"),
        }
    try:
        build = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"internal_api": build.get("name", "unknown"),
                "version": build.get("version", "unknown"),
                "architecture": "unknown (install threadpoolctl to see it)",
                "threads": None, "threading_layer": "unknown"}
    except Exception as e:
        return {"internal_api": f"unknown ({type(e).__name__})", "version": "unknown",
                "architecture": "unknown", "threads": None, "threading_layer": "unknown"}


def _cuda_version(code: int) -> str:
    """CUDA's integer version (12040) as text (12.4)."""
    return f"{code // 1000}.{(code % 1000) // 10}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _gpu() -> dict:
    """CuPy, the CUDA runtime and driver, and the first GPU (or why there is none)."""
    report = {"cupy": NOT_INSTALLED, "cuda_runtime": "not installed (needs CuPy)",
              "cuda_driver": "unknown (needs CuPy)",
              "gpu": "no GPU: CuPy is not installed", "gpu_memory": "n/a"}
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return report
    except Exception as e:  # installed but broken
        report["cupy"] = f"broken ({_first_line(e)})"
        report["gpu"] = f"no GPU: CuPy does not import ({_first_line(e)})"
        return report
    report["cupy"] = getattr(cupy, "__version__", "unknown")
    runtime = cupy.cuda.runtime
    try:
        report["cuda_runtime"] = _cuda_version(runtime.runtimeGetVersion())
    except Exception as e:
        report["cuda_runtime"] = f"unknown ({_first_line(e)})"
    try:
        report["cuda_driver"] = _cuda_version(runtime.driverGetVersion())
    except Exception as e:
        report["cuda_driver"] = f"unknown ({_first_line(e)})"
    try:
        count = runtime.getDeviceCount()
    except Exception as e:
        report["gpu"] = f"no GPU: {_first_line(e)}"
        return report
    if count == 0:
        report["gpu"] = "no GPU: CUDA reports 0 devices"
        return report
    try:
        props = runtime.getDeviceProperties(0)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        report["gpu"] = name if count == 1 else f"{name} (and {count - 1} more)"
        report["gpu_memory"] = f"{props['totalGlobalMem'] / 2**30:.1f} GiB"
    except Exception as e:
        report["gpu"] = f"no GPU: {_first_line(e)}"
    return report


def ops_by_owner() -> dict:
    """Who runs each hot loop on CPU (NumPy) arrays under the active backend:
    ``{'numba': [op, ...], 'numpy': [op, ...]}``, 'numpy' meaning the reference
    code in minicnn/functional (what ``minicnn.use_backend('numpy')`` selects)."""
    try:
        ops = kernel_names("numba")
    except Exception:  # numba missing or broken: every op runs the reference
        ops = []
    owners = {}
    for op in ops:
        owners.setdefault(kernel_owner(op, like=numpy.zeros(1)), []).append(op)
    return owners


def _owners_line(owners: dict) -> str:
    if not owners:
        return "numpy reference (minicnn/functional): every op (numba is not installed)"
    parts = []
    for owner, ops in sorted(owners.items()):
        label = "numpy reference (minicnn/functional)" if owner == "numpy" else owner
        shown = ", ".join(ops[:3]) + (", ..." if len(ops) > 3 else "")
        parts.append(f"{label}: {len(ops)} hot loops ({shown})")
    return "; ".join(parts)


def backend_line() -> str:
    """One line saying which code runs the hot loops (the first line of ``train``)."""
    return f"backend {get_backend()}: {_owners_line(ops_by_owner())}"


def info(file=None) -> dict:
    """Print the environment minicnn runs in, one item a line, and return it as a dict.

    Keys: minicnn, python, numpy, blas (a dict: internal_api, version,
    architecture, threads, threading_layer), OPENBLAS_CORETYPE, numba, backend,
    cpu_ops (``ops_by_owner()``: who runs which hot loop on CPU arrays), cupy,
    cuda_runtime, cuda_driver, gpu, gpu_memory, data_search_path (a list).
    """
    report = {
        "minicnn": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": _blas(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "not set"),
        "numba": _version("numba"),
        "backend": get_backend(),
        "cpu_ops": ops_by_owner(),
    }
    report.update(_gpu())
    report["data_search_path"] = search_roots()
    blas = report["blas"]
    threads = "? threads" if blas["threads"] is None else f"{blas['threads']} threads"
    lines = [
        ("minicnn", report["minicnn"]),
        ("python", report["python"]),
        ("numpy", report["numpy"]),
        ("BLAS", f"{blas['internal_api']} {blas['version']} (architecture "
                 f"{blas['architecture']}, {threads}, {blas['threading_layer']})"),
        ("OPENBLAS_CORETYPE", report["OPENBLAS_CORETYPE"]),
        ("numba", report["numba"]),
        ("backend", report["backend"]),
        ("CPU ops run by", _owners_line(report["cpu_ops"])),
        ("cupy", report["cupy"]),
        ("CUDA runtime", report["cuda_runtime"]),
        ("CUDA driver", report["cuda_driver"]),
        ("GPU", report["gpu"]),
        ("GPU memory", report["gpu_memory"]),
        ("data search path", ", ".join(report["data_search_path"])),
    ]
    out = sys.stdout if file is None else file
    for label, value in lines:
        print(f"{label:<18} {value}", file=out)
    return report
