"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""
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


@pytest.fixture
def rng():
    """A seeded NumPy generator for test data."""
    return numpy.random.default_rng(0)
