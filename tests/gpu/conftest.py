"""tests/gpu: the parity suite on a real NVIDIA GPU (``make test-gpu``).

Every test here is skipped, with the reason, unless CuPy imports, sees a GPU,
can compile a kernel with NVRTC and run it. The check runs once per session.
"""
import importlib

import pytest


def _gpu_or_reason():
    """(cupy, None) when a GPU works through CuPy, else (None, why not)."""
    from minicnn.backend import BackendUnavailableError, check_backend
    try:
        check_backend("cuda")
    except BackendUnavailableError as e:
        return None, str(e)
    cupy = importlib.import_module("cupy")
    try:  # one real compile + launch + copy back
        probe = cupy.RawKernel(
            'extern "C" __global__ void probe(float* a) { a[threadIdx.x] += 1.0f; }', "probe")
        a = cupy.zeros(4, dtype=cupy.float32)
        probe((1,), (4,), (a,))
        if float(a.sum()) != 4.0:
            return None, "a probe kernel ran but computed a wrong result"
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return None, f"CuPy sees a GPU but cannot run a kernel on it ({first})"
    return cupy, None


@pytest.fixture(scope="session")
def cp():
    """The cupy module, or the test is skipped with the reason no GPU works."""
    cupy, reason = _gpu_or_reason()
    if cupy is None:
        pytest.skip(f"no working GPU: {reason}")
    return cupy


@pytest.fixture(scope="session")
def numba_cuda_works(cp):
    """Whether Numba's CUDA target can compile and run a kernel on CuPy arrays here."""
    try:
        from numba import cuda

        if not cuda.is_available():
            return False

        @cuda.jit
        def add_one(a):
            i = cuda.grid(1)
            if i < a.size:
                a[i] += 1

        a = cp.zeros(4, dtype=cp.float32)
        add_one[1, 4](a)
        cuda.synchronize()
        return float(a.sum()) == 4.0
    except Exception:
        return False


@pytest.fixture(params=["cupy", "numba"])
def kernel_source(request, cp, numba_cuda_works):
    """Run a test once with the CUDA C kernels and once with their Numba twins."""
    from minicnn.kernels.cuda import get_kernel_source, set_kernel_source
    if request.param == "numba" and not numba_cuda_works:
        pytest.skip("Numba's CUDA target cannot compile/run kernels on this machine "
                    "(numba.cuda unavailable or no NVVM); the CUDA C kernels were tested")
    previous = get_kernel_source()
    set_kernel_source(request.param)
    yield request.param
    set_kernel_source(previous)
