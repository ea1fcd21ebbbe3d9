"""Array backends: the one module that knows CuPy exists.

Every op takes its array module from its data, ``xp = get_array_module(x)``,
and writes ``xp.exp(x)`` instead of ``numpy.exp(x)``: the same op code then runs
on NumPy arrays (CPU) and CuPy arrays (GPU).

On top of the array module sits the *kernel backend*, the choice of who runs
the hot loops (im2col, pooling, LRN, ...):

- ``numpy``: the plain reference implementations in ``minicnn.functional``;
- ``numba``: compiled CPU kernels from ``minicnn.kernels.cpu``;
- ``cuda``: CuPy arrays and GPU kernels from ``minicnn.kernels.cuda``.

An op asks ``kernel('im2col', reference)`` for its implementation: it gets the
fast kernel registered for the active backend, or the reference when there is
none. Kernels register themselves with ``register_kernel``.

What each backend runs on CPU and GPU arrays, and every other global switch:
``minicnn/settings.py``.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import warnings

import numpy

from minicnn.runtime import threads
from minicnn.settings import settings

__all__ = [
    "get_array_module", "is_cupy_array", "set_backend", "get_backend", "use_backend",
    "register_kernel", "kernel", "BACKENDS", "BackendUnavailableError",
    "set_workspace", "get_workspace", "check_backend", "cupy_module", "kernel_owner",
    "kernel_names",
]

BACKENDS = ("numpy", "numba", "cuda")


class BackendUnavailableError(RuntimeError):
    """A backend was asked for that this machine cannot provide."""


def cupy_module():
    """The cupy module, or None when it is missing or broken."""
    try:
        return importlib.import_module("cupy")
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None


def is_cupy_array(x) -> bool:
    """True when ``x`` is a CuPy array (checked without importing CuPy)."""
    return type(x).__module__.split(".")[0] == "cupy"


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    Tensors are unwrapped, so ``get_array_module(tensor)`` works too.
    """
    for a in arrays:
        a = getattr(a, "data", a)
        if is_cupy_array(a):
            return cupy_module()
    return numpy


# ---------------------------------------------------------------- kernel backend
_kernels: dict[tuple[str, str], object] = {}
_loaded: set[str] = set()


def _numba_available() -> bool:
    try:
        importlib.import_module("numba")
    except Exception:
        return False
    return True


def _resolve(name: str) -> str:
    """Turn 'auto' into the concrete backend this machine runs."""
    if name != "auto":
        return name
    return "numba" if _numba_available() else "numpy"


def _load_kernels(name: str) -> None:
    """Import the kernel module of ``name`` once, so its kernels register."""
    if name in _loaded or name == "numpy":
        return
    module = {"numba": "minicnn.kernels.cpu", "cuda": "minicnn.kernels.cuda"}[name]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name in (module, "minicnn.kernels"):
            _loaded.add(name)  # an install without kernels/: references only
            return
        raise
    _loaded.add(name)
    if (name == "numba" and threads.OPENMP_LOADED_BEFORE_MINICNN
            and threads.NUMBA_LAYER_CHOSEN is None):
        loaded = ", ".join(threads.OPENMP_LOADED_BEFORE_MINICNN)
        remedy = ("unset NUMBA_THREADING_LAYER so that minicnn can move Numba to TBB"
                  if "NUMBA_THREADING_LAYER" in os.environ else
                  "install TBB (pip install tbb) so that minicnn moves Numba to its own pool")
        warnings.warn(
            f"minicnn: an OpenMP runtime ({loaded}) was loaded before "
            "minicnn (importing torch first does that) while OMP_WAIT_POLICY was unset, so "
            "its idle threads spin and the numba kernels can run several times slower. "
            f"Import minicnn before torch, export OMP_WAIT_POLICY=PASSIVE, or {remedy}.",
            RuntimeWarning, stacklevel=3)


def _first_line(error: BaseException) -> str:
    """The first line of an exception's message (CUDA errors can run long)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _cupy_import_error() -> str:
    """Why ``import cupy`` fails, in one line."""
    try:
        importlib.import_module("cupy")
    except Exception as e:
        return _first_line(e)
    return "it imports now"


def check_backend(name: str) -> None:
    """Raise one clear line when backend ``name`` cannot run here."""
    if name not in BACKENDS + ("auto",):
        raise ValueError(
            f"set_backend: unknown backend {name!r}; choose one of "
            f"{', '.join(BACKENDS + ('auto',))}")
    if name == "numba" and not _numba_available():
        raise BackendUnavailableError(
            "backend 'numba' needs the numba package: pip install 'minicnn[numba]'")
    if name == "cuda":
        cupy = cupy_module()
        if cupy is None:
            if importlib.util.find_spec("cupy") is not None:  # installed, but broken
                raise BackendUnavailableError(
                    f"backend 'cuda': CuPy is installed but does not import "
                    f"({_cupy_import_error()}); reinstall one CuPy package "
                    "(cupy-cuda12x or cupy-cuda13x), or use --backend numba/numpy")
            raise BackendUnavailableError(
                "backend 'cuda' needs CuPy and an NVIDIA GPU: pip install 'minicnn[cuda]' "
                "(cupy-cuda12x; cupy-cuda13x for CUDA 13), or use --backend numba/numpy")
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # no driver, no device, wrong CUDA version
            raise BackendUnavailableError(
                f"backend 'cuda': CuPy is installed but no usable GPU was found "
                f"({_first_line(e)}); "
                "check the NVIDIA driver with nvidia-smi, or use --backend numba/numpy"
            ) from None
        if count == 0:
            raise BackendUnavailableError(
                "backend 'cuda': CuPy is installed but reports 0 GPUs; "
                "use --backend numba/numpy")
        nvrtc = getattr(cupy.cuda, "nvrtc", None)
        try:  # the kernels are compiled at run time by NVRTC
            if nvrtc is not None:
                nvrtc.getVersion()
        except Exception as e:
            raise BackendUnavailableError(
                f"backend 'cuda': CuPy cannot load NVRTC, the CUDA run-time compiler "
                f"({_first_line(e)}); install the CUDA toolkit, or pip install "
                "'cupy-cuda12x[ctk]' (cupy-cuda13x[ctk] for CUDA 13)") from None


def set_backend(name: str) -> None:
    """Choose who runs the hot loops: 'numpy', 'numba', 'cuda' or 'auto'.

    'auto' (the default) is numba when it imports, else numpy; cuda is used
    only when asked for.
    """
    check_backend(name)
    _load_kernels(_resolve(name))
    settings.backend = name


def get_backend() -> str:
    """The active backend, with 'auto' resolved ('numpy', 'numba' or 'cuda')."""
    return _resolve(settings.backend)


@contextlib.contextmanager
def use_backend(name: str):
    """``with minicnn.use_backend('numpy'): ...`` runs the block on one backend."""
    previous = settings.backend
    set_backend(name)
    try:
        yield
    finally:
        settings.backend = previous


def register_kernel(backend_name: str, op_name: str):
    """Decorator: register ``fn`` as backend ``backend_name``'s ``op_name``."""
    def decorate(fn):
        _kernels[(backend_name, op_name)] = fn
        return fn
    return decorate


def kernel(op_name: str, reference, like=None):
    """The implementation of ``op_name`` for the data ``like`` and the active backend.

    The table in minicnn/settings.py says who runs what: on CuPy data the
    'cuda' kernels unless the backend is 'numpy' (then the reference, on the
    GPU); on NumPy data the 'numba' kernels under 'numba' (or 'auto' with Numba
    installed), else the reference. Falls back to ``reference`` (the plain
    NumPy/CuPy code) when that backend has no kernel of that name.
    """
    name = get_backend()
    if like is not None and is_cupy_array(like):
        name = "numpy" if name == "numpy" else "cuda"
    elif name == "cuda":  # NumPy data under the cuda backend: CPU reference
        name = "numpy"
    if name not in _loaded:
        _load_kernels(name)
    return _kernels.get((name, op_name), reference)


def kernel_owner(op_name: str, like=None) -> str:
    """Who runs ``op_name`` now: 'numba', 'cuda' or 'numpy' (the reference)."""
    sentinel = object()
    chosen = kernel(op_name, sentinel, like=like)
    if chosen is sentinel:
        return "numpy"
    return "cuda" if like is not None and is_cupy_array(like) else get_backend()


# ------------------------------------------------------------------ workspace
def set_workspace(nbytes: int) -> None:
    """Cap the im2col buffers: convolution processes the batch in chunks small
    enough that every column-sized buffer a chunk holds at once fits in
    ``nbytes`` together (default 256 MiB; the budget is
    ``minicnn.functional._geometry.chunk_size``)."""
    if not isinstance(nbytes, int) or nbytes <= 0:
        raise ValueError(f"set_workspace: expected a positive number of bytes, got {nbytes!r}")
    settings.workspace_bytes = nbytes


def get_workspace() -> int:
    """The im2col workspace limit in bytes."""
    return settings.workspace_bytes


def kernel_names(backend_name: str) -> list:
    """The op names that backend ``backend_name`` has registered kernels for."""
    if backend_name not in BACKENDS:
        raise ValueError(f"kernel_names: unknown backend {backend_name!r}; choose one of "
                         f"{', '.join(BACKENDS)}")
    if backend_name != "numpy":
        _load_kernels(backend_name)
    return sorted(op for (b, op) in _kernels if b == backend_name)
