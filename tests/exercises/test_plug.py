"""minicnn exercise plug: the solutions train LeNet-5 on digits like the references."""
import os
import shutil

import numpy
import pytest

from minicnn.backend import kernel, use_backend
from minicnn.exercises import EXERCISES
from minicnn.exercises.plug import (
    ADAPTERS,
    PLUGGABLE,
    format_plug,
    load_student,
    plug,
    student_kernels,
)
from minicnn.functional.conv import im2col_array

SOLUTIONS = os.path.join(os.path.dirname(__file__), "solutions")


def test_the_pluggable_exercises_are_the_adapted_ones():
    assert set(PLUGGABLE) == {n for n, e in EXERCISES.items() if e.pluggable}
    for name in ADAPTERS:
        functions = set(EXERCISES[name].functions)
        module = load_student(os.path.join(SOLUTIONS, f"{name}.py"))
        assert functions <= set(dir(module))


def test_student_kernels_are_registered_only_inside_the_block():
    module = load_student(os.path.join(SOLUTIONS, "im2col.py"))
    calls = []
    original = module.im2col
    module.im2col = lambda *a: calls.append(a) or original(*a)
    x = numpy.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(numpy.float32)
    with student_kernels("im2col", module) as fallbacks:
        cols = kernel("im2col", im2col_array)(x, 3, 3, 1, 1, 1, 1, 1, 1)
        kernel("im2col", im2col_array)(x, 3, 3, 2, 1, 1, 1, 1, 1)  # SH != SW: reference
    assert len(calls) == 1 and cols.dtype == numpy.float32
    numpy.testing.assert_allclose(cols, im2col_array(x, 3, 3, 1, 1, 1, 1, 1, 1), rtol=1e-6)
    assert sum(fallbacks.counts.values()) == 1
    with use_backend("numpy"):
        assert kernel("im2col", im2col_array) is im2col_array


@pytest.mark.slow
@pytest.mark.parametrize("name", ["conv_naive", "im2col", "max_pool", "batch_norm"])
def test_plug_trains_lenet5_like_the_reference(name, tmp_path):
    shutil.copy(os.path.join(SOLUTIONS, f"{name}.py"), tmp_path)
    result = plug(name, str(tmp_path), limit=320, progress=False,
                  timing=name == "conv_naive")
    assert result["within"], result
    assert abs(result["your_accuracy"] - result["reference_accuracy"]) <= 0.02
    assert result["fallbacks"] == {}
    text = format_plug(result)
    assert "320 of 1438 training images" in text
    if name == "conv_naive":
        labels = [row[0] for row in result["timing"][1]]
        assert labels[:2] == ["yours", "numpy reference"]
        assert "median ms" in text
