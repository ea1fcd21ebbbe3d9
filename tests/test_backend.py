"""minicnn/backend.py: the array-module switch, backend selection, kernel dispatch."""
import sys

import numpy
import pytest

import minicnn

# ``minicnn.backend`` is the context manager; the module is reached through sys.modules.
backend = sys.modules["minicnn.backend"]


def test_get_array_module_is_numpy_for_cpu_data():
    assert backend.get_array_module(numpy.ones(2)) is numpy
    assert backend.get_array_module(minicnn.Tensor([1.0])) is numpy


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="numpy, numba, cuda, auto"):
        minicnn.set_backend("tpu")


def test_cuda_without_cupy_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(backend, "cupy_module", lambda: None)
    with pytest.raises(minicnn.BackendUnavailableError) as info:
        minicnn.set_backend("cuda")
    assert "pip install" in str(info.value) and "\n" not in str(info.value)


def test_cuda_with_a_broken_driver_is_one_clear_line(monkeypatch):
    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is "
                               "insufficient\nmore detail")

    class FakeCupy:
        class cuda:
            runtime = Runtime

    monkeypatch.setattr(backend, "cupy_module", lambda: FakeCupy)
    with pytest.raises(minicnn.BackendUnavailableError) as info:
        minicnn.set_backend("cuda")
    message = str(info.value)
    assert "no usable GPU" in message and "insufficient" in message and "\n" not in message


def test_backend_context_manager_restores():
    before = minicnn.get_backend()
    with minicnn.use_backend("numpy"):
        assert minicnn.get_backend() == "numpy"
    assert minicnn.get_backend() == before


def test_kernel_dispatch_prefers_a_registered_kernel():
    def reference(x):
        return "reference"

    def fast(x):
        return "fast"

    with minicnn.use_backend("numpy"):
        assert backend.kernel("test_only_op", reference)(1) == "reference"
    backend.register_kernel("numpy", "test_only_op")(fast)
    try:
        with minicnn.use_backend("numpy"):
            assert backend.kernel("test_only_op", reference)(1) == "fast"
    finally:
        del backend._kernels[("numpy", "test_only_op")]


def test_workspace_limit_is_validated_and_settable():
    old = minicnn.get_workspace()
    try:
        minicnn.set_workspace(1024)
        assert minicnn.get_workspace() == 1024
        with pytest.raises(ValueError, match="positive number of bytes"):
            minicnn.set_workspace(0)
    finally:
        minicnn.set_workspace(old)


def test_openmp_threads_sleep_when_idle_unless_the_user_chose():
    # Spinning OpenMP (numba) and OpenBLAS threads starve each other on small machines.
    import os
    import subprocess
    import sys
    code = "import os, minicnn; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE"


@pytest.mark.parametrize("omp_loaded_first, policy_set, warns", [
    (True, False, True),     # e.g. torch imported first: its libgomp already spins
    (True, True, False),     # the user chose a policy: their call
    (False, False, False),   # minicnn first: its PASSIVE default reaches the runtime
])
def test_an_openmp_runtime_loaded_before_minicnn_is_warned_about(omp_loaded_first, policy_set,
                                                                 warns):
    """With Numba held on OpenMP (NUMBA_THREADING_LAYER=omp: the user's choice, or
    no TBB installed); where minicnn may move Numba to TBB it does not warn,
    tests/runtime/test_threads.py."""
    import ctypes.util
    import os
    import subprocess
    pytest.importorskip("numba")
    libgomp = ctypes.util.find_library("gomp")
    if libgomp is None or not os.path.exists("/proc/self/maps"):
        pytest.skip("needs libgomp and /proc/self/maps")
    first = f"import ctypes; ctypes.CDLL({libgomp!r}); " if omp_loaded_first else ""
    code = first + "import minicnn; minicnn.set_backend('numba')"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["NUMBA_THREADING_LAYER"] = "omp"
    if policy_set:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env,
                         capture_output=True, text=True)
    if warns:
        assert out.returncode != 0
        assert "was loaded before minicnn" in out.stderr and "OMP_WAIT_POLICY" in out.stderr
    else:
        assert out.returncode == 0, out.stderr
