"""The examples in the engine's docstrings run, also as `python -m doctest FILE`
from inside the package folder (no module of minicnn shadows the standard
library there: a ``random.py`` once made that a RecursionError)."""
import doctest
import pathlib
import subprocess
import sys

import pytest

import minicnn.autograd

PACKAGE = pathlib.Path(minicnn.autograd.__file__).resolve().parent


def test_autograd_docstring_examples_pass():
    result = doctest.testmod(minicnn.autograd)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("path", ["autograd.py"])
def test_doctest_from_inside_the_package_folder(path):
    result = subprocess.run([sys.executable, "-m", "doctest", path], cwd=PACKAGE,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_no_module_shadows_the_standard_library():
    stdlib = set(sys.stdlib_module_names)
    ours = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                     if (p / "__init__.py").exists()}
    assert not (ours & stdlib), sorted(ours & stdlib)
