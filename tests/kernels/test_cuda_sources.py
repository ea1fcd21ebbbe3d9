"""The CUDA C sources of minicnn/kernels/cuda (*.cu) and how they are called.

- every .cu family compiles, for float and double, with the machine's nvcc
  and with NVRTC (the run-time compiler CuPy uses; via cuda-python when
  installed), so a compile error cannot land unseen on a GPU-less machine;
- every CUDA C kernel has a Numba CUDA twin with the same parameter names;
- every wrapper passes each kernel the arguments its C signature declares
  (arrays of the right dtype, and Python ints/floats or dtype scalars that
  ``launch`` hands to CuPy as long long/double/real_t);
- ``launch`` on CuPy data compiles through ``cupy.RawModule`` once per
  (family, dtype) and calls the kernel with (grid,), (block,) and C-typed args
  (a fake cupy module stands in for the real one).
"""
import inspect
import re
import shutil
import subprocess
import sys
import types

import numpy
import pytest

from minicnn.kernels.cuda import launch as launch_module
from minicnn.kernels.cuda.launch import FAMILIES, cuda_source

DTYPES = (numpy.float32, numpy.float64)
SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)


def c_kernels():
    """{kernel name: (family, [(C type, parameter name), ...])} parsed from the .cu files."""
    found = {}
    for family in FAMILIES:
        for name, params in SIGNATURE.findall(cuda_source(family, numpy.float32)):
            pairs = []
            for param in params.split(","):
                words = param.replace("*", " * ").split()
                pairs.append((" ".join(w for w in words[:-1] if w != "const"), words[-1]))
            found[name] = (family, pairs)
    return found


KERNELS = c_kernels()


def test_every_family_has_kernels():
    assert {family for family, _ in KERNELS.values()} == set(FAMILIES)
    assert len(KERNELS) == 16


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("family", FAMILIES)
def test_source_compiles_with_nvcc(family, tmp_path):
    for dtype in DTYPES:
        path = tmp_path / f"{family}_{numpy.dtype(dtype).name}.cu"
        path.write_text(cuda_source(family, dtype))
        result = subprocess.run(
            ["nvcc", "--ptx", "-arch=sm_90", "-Werror", "all-warnings",
             "-o", str(path.with_suffix(".ptx")), str(path)],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{path.name}:\n{result.stderr}"
        ptx = path.with_suffix(".ptx").read_text()
        for name, (fam, _) in KERNELS.items():
            if fam == family:
                assert f".entry {name}(" in ptx  # extern "C": the name CuPy looks up


@pytest.mark.parametrize("family", FAMILIES)
def test_source_compiles_with_nvrtc_like_cupy(family):
    """NVRTC sees no CUDA headers: the sources must rely on built-ins only."""
    nvrtc = pytest.importorskip("cuda.bindings.nvrtc")
    for dtype in DTYPES:
        err, prog = nvrtc.nvrtcCreateProgram(
            cuda_source(family, dtype).encode(), f"{family}.cu".encode(), 0, [], [])
        assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
        options = [b"--std=c++11", b"-arch=compute_90", b"-ftz=true"]  # as CuPy
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(options), options)
        log = b""
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            # NVRTC writes into the buffer it is given. It must be a fresh object:
            # ``b" " * 1`` is CPython's shared one-byte b" ", and writing the log's
            # NUL into it corrupted every b" " in the process (torch.load then failed).
            log = bytes(bytearray(size + 1))
            nvrtc.nvrtcGetProgramLog(prog, log)
        nvrtc.nvrtcDestroyProgram(prog)
        assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace")


def test_every_c_kernel_has_a_numba_twin_with_the_same_parameters():
    numba_kernels = pytest.importorskip("minicnn.kernels.cuda.numba_kernels")
    for name, (_, params) in KERNELS.items():
        twin = getattr(numba_kernels, name)
        names = list(inspect.signature(twin.py_func).parameters)
        assert names == [p for _, p in params], name


# ----------------------------------------------------------- calling convention
def _calls_of_every_wrapper(monkeypatch):
    """Run every wrapper on small NumPy data with ``launch`` recording, not running."""
    from minicnn.kernels.cuda import activation, conv, dropout, loss, normalization, pooling, sgd
    calls = []

    def record(family, name, grid, block, args, dtype):
        calls.append((family, name, args, numpy.dtype(dtype)))

    for module in (activation, conv, dropout, loss, normalization, pooling, sgd):
        monkeypatch.setattr(module, "launch", record)
    rng = numpy.random.default_rng(0)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
        conv.im2col(x, 3, 3, 1, 1, 1, 1, 1, 1)
        conv.col2im(numpy.zeros((2, 27, 16), dtype), x.shape, 3, 3, 1, 1, 1, 1, 1, 1)
        pooling.max_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 2, 2)
        pooling.max_pool2d_backward(x[:, :, :2, :2], numpy.zeros((2, 3, 2, 2), numpy.int64),
                                    x.shape)
        divisor = numpy.full((2, 2), 4.0)
        pooling.avg_pool2d_forward(x, 2, 2, 2, 2, 0, 0, 2, 2, divisor)
        pooling.avg_pool2d_backward(x[:, :, :2, :2], x.shape, 2, 2, 2, 2, 0, 0, divisor)
        normalization.lrn_forward(x, 3, 1e-4, 0.75, 1)
        normalization.lrn_backward(x, x, x, x, 3, 1e-4, 0.75, 1)
        x3, c = x.reshape(2, 3, 16), numpy.ones(3, dtype)
        normalization.batch_norm_forward(x3, c, None, 1e-5)
        normalization.batch_norm_backward(x3, x3, c, c, None)
        activation.relu_forward(x)
        activation.relu_backward(x, x)
        dropout.dropout_forward(x, x, 0.5)
        target = numpy.array([0, 1], numpy.int64)
        loss.softmax_cross_entropy_forward(x.reshape(2, -1), target, 0.1)
        loss.softmax_cross_entropy_backward(x.reshape(2, -1), target, 0.1, x[:, 0, 0, 0])
        sgd.sgd_step(x, x, x.copy(), 0.1, 0.9, 0, 0, True, 1)
        sgd.sgd_step(x, x, None, 0.1, 0, 0, 1e-4, False, 1)
    return calls


def test_wrappers_pass_what_the_c_signatures_declare(monkeypatch):
    calls = _calls_of_every_wrapper(monkeypatch)
    assert {name for _, name, _, _ in calls} == set(KERNELS)
    for family, name, args, dtype in calls:
        declared_family, params = KERNELS[name]
        assert family == declared_family, name
        assert len(args) == len(params), name
        for arg, (ctype, pname) in zip(args, params):
            where = f"{name}({pname}) {numpy.dtype(dtype).name}"
            if ctype.endswith("*"):
                want = {"real_t *": dtype, "long long *": numpy.dtype(numpy.int64)}[ctype]
                assert isinstance(arg, numpy.ndarray), where
                assert arg.dtype == want and arg.flags.c_contiguous, where
            elif ctype == "long long":
                assert isinstance(arg, (int, numpy.integer)), where
                assert isinstance(launch_module._c_arg(arg), numpy.int64), where
            elif ctype == "double":
                assert isinstance(arg, float) and not isinstance(arg, numpy.floating), where
                assert isinstance(launch_module._c_arg(arg), numpy.float64), where
            else:
                assert ctype == "real_t", where
                assert isinstance(arg, numpy.generic) and arg.dtype == dtype, where


class FakeCupyArray(numpy.ndarray):
    """A NumPy array that ``is_cupy_array`` takes for a CuPy one."""


FakeCupyArray.__module__ = "cupy._core.core"


def test_launch_on_cupy_data_compiles_once_and_passes_c_types(monkeypatch):
    compiled, launched = [], []

    class RawModule:
        def __init__(self, code, options=()):
            compiled.append((code, options))

        def get_function(self, name):
            return lambda grid, block, args: launched.append((name, grid, block, args))

    fake = types.ModuleType("cupy")
    fake.RawModule = RawModule
    monkeypatch.setitem(sys.modules, "cupy", fake)
    launch_module._raw_module.cache_clear()
    launch_module._raw_function.cache_clear()
    try:
        x = numpy.zeros(5, numpy.float32).view(FakeCupyArray)
        y = numpy.zeros(5, numpy.float32).view(FakeCupyArray)
        for _ in range(2):
            launch_module.launch("elementwise", "relu_forward", 3, 64, (x, y, 5), x.dtype)
    finally:
        launch_module._raw_module.cache_clear()
        launch_module._raw_function.cache_clear()
    assert len(compiled) == 1  # cached per (family, dtype)
    assert compiled[0][0].startswith("typedef float real_t;\n")
    name, grid, block, args = launched[0]
    assert (name, grid, block) == ("relu_forward", (3,), (64,))
    assert args[0] is x and args[1] is y and type(args[2]) is numpy.int64


def test_kernel_source_switch():
    from minicnn.kernels.cuda import get_kernel_source, set_kernel_source
    assert get_kernel_source() == "cupy"
    set_kernel_source("numba")
    try:
        assert get_kernel_source() == "numba"
    finally:
        set_kernel_source("cupy")
    with pytest.raises(ValueError, match="set_kernel_source: expected 'cupy' or 'numba'"):
        set_kernel_source("opencl")


def test_unsupported_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="float16 is not supported"):
        cuda_source("elementwise", numpy.float16)
