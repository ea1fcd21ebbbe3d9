"""The 'cuda' backend's switch and messages (minicnn/backend.py + minicnn.kernels.cuda).

No GPU here: CuPy is absent, or replaced by a fake ``cupy`` module in
sys.modules, so the real import path of ``check_backend`` runs.
"""
import re
import sys
import types
from pathlib import Path

import numpy
import pytest

import minicnn
from minicnn.backend import BackendUnavailableError, check_backend, kernel
from minicnn.settings import settings

backend_module = sys.modules["minicnn.backend"]
README = Path(__file__).resolve().parents[2] / "kernels" / "README.md"


def contract_names():
    """The kernel names of the contract table in kernels/README.md (the fused,
    numba-only kernels have their own section after it)."""
    contract = README.read_text().split("\n## Fused kernels")[0]
    return re.findall(r"^\| `(\w+)` \|", contract, re.M)


def fake_cupy(get_device_count, nvrtc_version=None):
    """A module named cupy whose runtime answers ``get_device_count()``."""
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    if nvrtc_version is not None:
        cupy.cuda.nvrtc = types.SimpleNamespace(getVersion=nvrtc_version)
    return cupy


class FakeCupyArray(numpy.ndarray):
    """A NumPy array that ``is_cupy_array`` takes for a CuPy one."""


FakeCupyArray.__module__ = "cupy._core.core"


def one_line(error_info):
    message = str(error_info.value)
    assert "\n" not in message and message.startswith("backend 'cuda'")
    return message


def test_cupy_missing_is_one_line_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(BackendUnavailableError) as info:
        minicnn.set_backend("cuda")
    message = one_line(info)
    assert "pip install" in message and "cupy-cuda12x" in message
    assert "--backend numba/numpy" in message


def test_cupy_without_a_driver_is_one_line(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected\n"
                           "  File ... (a long CUDA traceback)")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(no_driver))
    with pytest.raises(BackendUnavailableError) as info:
        minicnn.set_backend("cuda")
    message = one_line(info)
    assert "no usable GPU" in message and "cudaErrorNoDevice" in message
    assert "nvidia-smi" in message and "traceback" not in message


def test_cupy_with_zero_gpus_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 0))
    with pytest.raises(BackendUnavailableError) as info:
        check_backend("cuda")
    assert "0 GPUs" in one_line(info)


def test_missing_nvrtc_is_one_line(monkeypatch):
    def no_nvrtc():
        raise RuntimeError("CuPy failed to load libnvrtc.so.12: cannot open shared object")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 1, no_nvrtc))
    with pytest.raises(BackendUnavailableError) as info:
        check_backend("cuda")
    message = one_line(info)
    assert "NVRTC" in message and "libnvrtc.so.12" in message and "[ctk]" in message


def test_tensor_to_cuda_without_cupy_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError) as info:
        minicnn.Tensor([1.0, 2.0]).to("cuda")
    one_line(info)


def test_working_fake_gpu_selects_cuda_and_registers_its_kernels(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 1, lambda: (12, 4)))
    before = settings.backend
    try:
        minicnn.set_backend("cuda")
        assert minicnn.get_backend() == "cuda"
    finally:
        settings.backend = before
    from minicnn.kernels import cuda
    names = contract_names()
    assert len(names) == 18
    # conv2d on CuPy data is the shared GEMM driver (the reference), not a cuda kernel
    shared = {"conv2d_forward", "conv2d_backward"}
    for name in shared:
        assert ("cuda", name) not in backend_module._kernels, name
    registered = {name: backend_module._kernels.get(("cuda", name))
                  for name in names if name not in shared}
    assert None not in registered.values(), [n for n, k in registered.items() if k is None]
    for name, fn in registered.items():  # each lives in its family's module
        assert fn.__module__.startswith("minicnn.kernels.cuda."), name
    like = numpy.zeros(3).view(FakeCupyArray)
    assert kernel("im2col", None, like=like) is cuda.conv.im2col
    assert kernel("sgd_step", None, like=like) is cuda.sgd.sgd_step


def test_numpy_data_never_runs_cuda_kernels(monkeypatch):
    """Under the cuda backend, NumPy data still runs the CPU reference."""
    def reference(x):
        return x
    monkeypatch.setattr(settings, "backend", "cuda")
    import minicnn.kernels.cuda  # noqa: F401  (registers the cuda kernels)
    assert kernel("relu_forward", reference, like=numpy.zeros(2)) is reference


def test_numpy_backend_runs_the_reference_on_gpu_data_too(monkeypatch):
    """'numpy' means the reference code on any device (minicnn/settings.py)."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 1, lambda: (12, 4)))
    import minicnn.kernels.cuda  # noqa: F401  (registers the cuda kernels)

    def reference(x):
        return x
    like = numpy.zeros(3).view(FakeCupyArray)
    monkeypatch.setattr(settings, "backend", "numpy")
    assert kernel("relu_forward", reference, like=like) is reference
    monkeypatch.setattr(settings, "backend", "numba")
    assert kernel("relu_forward", reference, like=like) is not reference
