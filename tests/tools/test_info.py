"""minicnn/info.py: the environment report, with and without CuPy or a GPU."""
import importlib
import io
import sys
import types

import numpy
import pytest

import minicnn

info_module = importlib.import_module("minicnn.tools.info")

KEYS = {"minicnn", "python", "numpy", "blas", "cpu_ops", "data_search_path",
        "OPENBLAS_CORETYPE", "numba", "backend", "cupy",
        "cuda_runtime", "cuda_driver", "gpu", "gpu_memory"}


def run_info():
    out = io.StringIO()
    report = info_module.info(file=out)
    return report, out.getvalue().splitlines()


def fake_cupy(runtime):
    cupy = types.ModuleType("cupy")
    cupy.__version__ = "14.0.1"
    cupy.cuda = types.SimpleNamespace(runtime=runtime)
    return cupy


def test_report_without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    report, lines = run_info()
    assert set(report) == KEYS
    assert report["numpy"] == numpy.__version__
    assert set(report["blas"]) == {"internal_api", "version", "architecture", "threads",
                                   "threading_layer"}
    assert report["OPENBLAS_CORETYPE"] == "Haswell"
    assert report["cupy"] == "not installed"
    assert report["gpu"].startswith("no GPU: ")
    assert len(lines) == 14
    assert any(line.startswith("BLAS") and report["blas"]["internal_api"] in line
               for line in lines)
    assert "GPU                no GPU: CuPy is not installed" in lines


def test_report_with_cupy_but_no_driver(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is "
                           "insufficient for CUDA runtime version\nmore")

    runtime = types.SimpleNamespace(runtimeGetVersion=lambda: 12040,
                                    driverGetVersion=no_device, getDeviceCount=no_device)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(runtime))
    report, lines = run_info()
    assert report["cupy"] == "14.0.1"
    assert report["cuda_runtime"] == "12.4"
    assert report["cuda_driver"].startswith("unknown (cudaErrorInsufficientDriver")
    assert report["gpu"] == ("no GPU: cudaErrorInsufficientDriver: CUDA driver version is "
                             "insufficient for CUDA runtime version")


def test_report_with_a_gpu(monkeypatch):
    props = {"name": b"NVIDIA H100 80GB HBM3", "totalGlobalMem": 85 * 2**30}
    runtime = types.SimpleNamespace(runtimeGetVersion=lambda: 13000,
                                    driverGetVersion=lambda: 13010,
                                    getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: props)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(runtime))
    report, lines = run_info()
    assert (report["cuda_runtime"], report["cuda_driver"]) == ("13.0", "13.1")
    assert report["gpu"] == "NVIDIA H100 80GB HBM3"
    assert report["gpu_memory"] == "85.0 GiB"
    assert "GPU memory         85.0 GiB" in lines


def test_report_names_the_version_the_data_path_and_who_runs_each_op(capsys):
    report = minicnn.info()
    out = capsys.readouterr().out
    assert report["minicnn"] == minicnn.__version__
    assert out.startswith(f"minicnn            {minicnn.__version__}\n")
    assert "data search path" in out and report["data_search_path"][0] in out
    with minicnn.use_backend("numpy"):
        assert set(minicnn.info(file=io.StringIO())["cpu_ops"]) <= {"numpy"}


def test_the_numba_backend_owns_every_registered_cpu_kernel():
    pytest.importorskip("numba")
    from minicnn.tools.info import backend_line, ops_by_owner
    with minicnn.use_backend("numba"):
        owners = ops_by_owner()
        assert list(owners) == ["numba"] and "conv2d_forward" in owners["numba"]
        assert backend_line().startswith("backend numba: numba: ")
    with minicnn.use_backend("numpy"):
        assert "numpy reference (minicnn/functional)" in backend_line()
