"""Shared test settings: hypothesis profiles sized for a 2-core CI machine, and
the one ``kernel_backend`` fixture that reruns a test on every kernel backend.

MINICNN_TEST_BACKENDS=numpy,numba restricts that fixture to the backends named
(a named backend this machine cannot run is reported as skipped, with why).
"""
import os
import shutil
import subprocess


def _gpu_usable() -> bool:
    """A real NVIDIA GPU is present: MINICNN_GPU_TESTS=1, or ``nvidia-smi -L`` lists one."""
    if os.environ.get("MINICNN_GPU_TESTS") == "1":
        return True
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


# Numba's CUDA simulator must be chosen before numba.cuda is first imported:
# without a GPU, the Numba CUDA kernels (minicnn.kernels.cuda) run on it.
# It only affects numba.cuda; the CPU @njit kernels compile as usual.
if not _gpu_usable():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy  # noqa: E402  (after the simulator switch)
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import minicnn  # noqa: E402
from minicnn.backend import BACKENDS, BackendUnavailableError, check_backend  # noqa: E402
from minicnn.settings import settings as minicnn_settings  # noqa: E402

settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:
    import torch
except ImportError:  # torch is a test extra; tests that need it import it themselves
    torch = None
if torch is not None:
    # The tests use tiny tensors: torch's intra-op thread pool costs ~40 ms a call
    # on a busy 2-core machine (pytest -n 2 already uses both cores) and buys nothing.
    torch.set_num_threads(1)


def _kernel_backends():
    """The kernel backends to test, as pytest params (ids: the backend names).

    numpy (the references) always; numba when it imports; cuda only when CuPy
    finds a real GPU, never under the CUDA simulator (which only emulates
    numba.cuda, not CuPy). MINICNN_TEST_BACKENDS keeps the ones it names.
    """
    available, why_not = [], {}
    for name in BACKENDS:
        if name == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            why_not[name] = "no NVIDIA GPU here (the CUDA simulator is on)"
            continue
        try:
            check_backend(name)
        except BackendUnavailableError as e:
            why_not[name] = str(e)
        else:
            available.append(name)
    names = os.environ.get("MINICNN_TEST_BACKENDS", "").split(",")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"MINICNN_TEST_BACKENDS: unknown backend(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BACKENDS)}")
    if not wanted:
        return [pytest.param(name, id=name) for name in available]
    # asked for by name but not runnable here: skipped with the reason, not dropped
    return [pytest.param(name, id=name) if name in available else
            pytest.param(name, id=name, marks=pytest.mark.skip(
                reason=f"MINICNN_TEST_BACKENDS asks for {name}: {why_not[name]}"))
            for name in wanted]


KERNEL_BACKENDS = _kernel_backends()


@pytest.fixture(params=KERNEL_BACKENDS)
def kernel_backend(request):
    """Run the test once per kernel backend, inside ``with minicnn.use_backend(name):``.

    Yields the backend name. Ops then dispatch their hot loops (im2col, pooling,
    batch_norm, ...) to that backend's kernels, so one test checks every backend
    against finite differences and PyTorch. Under 'cuda', NumPy data still runs
    the references (kernels are chosen by the data's type); tests/gpu moves the
    data to the GPU. In @given tests write ``@pytest.mark.usefixtures("kernel_backend")``:
    one backend for all examples is intended, and a fixture named in the test's
    signature would trip hypothesis' function_scoped_fixture health check.
    """
    with minicnn.use_backend(request.param):
        yield request.param


@pytest.fixture
def reference_backend():
    """Pin the test to the NumPy references, for tests about the references
    themselves (spies on the reference kernels, counts of their calls)."""
    with minicnn.use_backend("numpy"):
        yield "numpy"


@pytest.fixture(autouse=True)
def _restore_global_switches():
    """Every test starts from the switches the one before it found: a command-line
    test that passes --backend numpy (which sets the process's backend, as the
    command does) must not change what later tests in the same worker run on."""
    saved = dict(vars(minicnn_settings))
    yield
    vars(minicnn_settings).update(saved)


@pytest.fixture(autouse=True)
def _deterministic_generators():
    """Every test starts from the same random seed (minicnn's init and dropout, torch's
    init), so a run is repeatable whatever ran before it in the same worker."""
    import minicnn
    minicnn.manual_seed(0)
    if torch is not None:
        torch.manual_seed(0)


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """An empty MINICNN_DATA under tmp_path, a fake home, no system dataset folders
    and no network: the data search path sees only what the test writes."""
    from minicnn.data import datasets
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "SYSTEM_ROOTS", ())

    def no_network(url, timeout=30.0):
        raise OSError("network disabled in tests")
    monkeypatch.setattr(datasets, "_fetch", no_network)
    return tmp_path / "data"


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data."""
    return numpy.random.default_rng(0)
