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

Note: ``minicnn.backend`` (the attribute) is the context manager below; import
from this module with ``from minicnn.backend import kernel``.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import warnings

import numpy


def _openmp_runtimes_loaded() -> list:
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
# its runtime loads, so it is set here, before numba can start its pool; a
# policy the user chose is kept.
#
# A runtime loaded before us (torch brings its own libgomp, and numba's pool then
# binds to it) has already read its policy: too late for this default, so
# _load_kernels warns.
_OPENMP_BEFORE_US = [] if "OMP_WAIT_POLICY" in os.environ else _openmp_runtimes_loaded()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "get_array_module", "is_cupy_array", "set_backend", "get_backend", "use_backend",
    "register_kernel", "kernel", "BACKENDS", "BackendUnavailableError",
    "set_workspace", "get_workspace", "check_backend", "cupy_module",
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
_state = {"name": "auto"}
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
            _loaded.add(name)  # no kernels written for it (yet): references only
            return
        raise
    _loaded.add(name)
    if name == "numba" and _OPENMP_BEFORE_US:
        warnings.warn(
            f"minicnn: an OpenMP runtime ({', '.join(_OPENMP_BEFORE_US)}) was loaded before "
            "minicnn (importing torch first does that) while OMP_WAIT_POLICY was unset, so "
            "its idle threads spin and the numba kernels can run several times slower. "
            "Import minicnn before torch, or export OMP_WAIT_POLICY=PASSIVE.",
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
    _state["name"] = name


def get_backend() -> str:
    """The active backend, with 'auto' resolved ('numpy', 'numba' or 'cuda')."""
    return _resolve(_state["name"])


@contextlib.contextmanager
def use_backend(name: str):
    """``with minicnn.use_backend('numpy'): ...`` runs the block on one backend."""
    previous = _state["name"]
    set_backend(name)
    try:
        yield
    finally:
        _state["name"] = previous


def register_kernel(backend_name: str, op_name: str):
    """Decorator: register ``fn`` as backend ``backend_name``'s ``op_name``."""
    def decorate(fn):
        _kernels[(backend_name, op_name)] = fn
        return fn
    return decorate


def kernel(op_name: str, reference, like=None):
    """The implementation of ``op_name`` for the data ``like`` and the active backend.

    CuPy data runs the 'cuda' kernels; NumPy data runs the active CPU backend's
    ('numba' or 'numpy'). Falls back to ``reference`` (the plain NumPy/CuPy
    code) when that backend has no kernel of that name.
    """
    if like is not None and is_cupy_array(like):
        name = "cuda"
    else:
        name = get_backend()
        if name == "cuda":  # NumPy data under the cuda backend: CPU reference
            name = "numpy"
    if name not in _loaded:
        _load_kernels(name)
    return _kernels.get((name, op_name), reference)


# ------------------------------------------------------------------ workspace
_workspace = {"bytes": 256 * 2**20}


def set_workspace(nbytes: int) -> None:
    """Cap the im2col column buffer: convolution processes the batch in chunks
    small enough that one chunk's columns fit in ``nbytes`` (default 256 MiB)."""
    if not isinstance(nbytes, int) or nbytes <= 0:
        raise ValueError(f"set_workspace: expected a positive number of bytes, got {nbytes!r}")
    _workspace["bytes"] = nbytes


def get_workspace() -> int:
    """The im2col workspace limit in bytes."""
    return _workspace["bytes"]
