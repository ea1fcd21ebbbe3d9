"""minicnn/runtime/threads.py: the OpenMP wait policy, the import order and
Numba's threading layer. Each case runs in a fresh interpreter, because what is
tested is what happens when libraries load."""
import os
import subprocess
import sys

import pytest

from minicnn.runtime import threads

pytest.importorskip("numba")

_RUN_A_CONV = (
    "import warnings, numpy\n"
    "warnings.simplefilter('always')\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    import minicnn, numba\n"
    "    from minicnn.runtime import threads\n"
    "    minicnn.set_backend('numba')\n"
    "    conv = minicnn.nn.Conv2d(3, 8, 3)\n"
    "    conv(minicnn.Tensor(numpy.ones((2, 3, 32, 32), numpy.float32)))\n"
    "print(numba.threading_layer())\n"
    "print(sum('OpenMP runtime' in str(w.message) for w in caught))\n"
    "print(threads.USER_OMP_WAIT_POLICY)\n"
)


def _run(first_import: str, **env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    env.update(env_changes)
    done = subprocess.run([sys.executable, "-c", first_import + _RUN_A_CONV],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    layer, warned, policy = done.stdout.split()
    return layer, int(warned), policy


def test_minicnn_first_runs_numba_on_openmp_with_no_warning():
    assert _run("") == ("omp", 0, "None")


def test_torch_first_moves_numba_to_tbb_when_it_is_installed():
    pytest.importorskip("torch")
    if threads.tbb_library() is None:
        pytest.skip("TBB is not installed here (the numba extra installs it on Linux x86-64)")
    assert _run("import torch\n") == ("tbb", 0, "None")


def test_torch_first_keeps_the_users_layer_and_warns():
    pytest.importorskip("torch")
    layer, warned, _ = _run("import torch\n", NUMBA_THREADING_LAYER="omp")
    assert (layer, warned) == ("omp", 1)


def test_a_wait_policy_the_user_set_is_kept_and_nothing_is_switched():
    pytest.importorskip("torch")
    layer, warned, policy = _run("import torch\n", OMP_WAIT_POLICY="ACTIVE")
    assert (layer, warned, policy) == ("omp", 0, "ACTIVE")


def test_tbb_library_is_a_file_or_none():
    path = threads.tbb_library()
    assert path is None or os.path.isfile(path)
