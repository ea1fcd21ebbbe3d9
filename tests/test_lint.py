"""The whole tree passes ruff (a linted public API: nothing misspelt ships)."""
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _ruff():
    candidate = pathlib.Path(sys.executable).with_name("ruff")
    return str(candidate) if candidate.exists() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is not installed (pip install ruff)")
def test_ruff_is_clean():
    result = subprocess.run(
        [_ruff(), "check", "--no-cache", "minicnn", "kernels", "zoo", "benchmarks", "tests"],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
