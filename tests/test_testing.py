"""minicnn/testing.py: the comparison helpers the suite and coursework use."""
import numpy
import pytest

from minicnn.testing import assert_kernel_close


def test_assert_kernel_close_uses_the_dtype_bound_scaled_by_the_reference():
    ref = numpy.array([1000.0, 1.0], dtype=numpy.float32)
    # 1e-5 relative to the largest entry (1000): 5e-3 absolute passes on the small entry
    assert_kernel_close(ref + numpy.float32(5e-3), ref, numpy.float32)
    with pytest.raises(AssertionError):
        assert_kernel_close(ref + numpy.float32(0.05), ref, numpy.float32)
    ref64 = numpy.array([1.0, 2.0])
    assert_kernel_close(ref64 * (1 + 1e-13), ref64, numpy.float64)
    with pytest.raises(AssertionError):
        assert_kernel_close(ref64 * (1 + 1e-9), ref64, numpy.float64)


def test_assert_kernel_close_checks_shape_and_dtype_first():
    ref = numpy.zeros((2, 3))
    with pytest.raises(AssertionError, match="shape"):
        assert_kernel_close(numpy.zeros((3, 2)), ref, numpy.float64)
    with pytest.raises(AssertionError, match="dtype"):
        assert_kernel_close(ref.astype(numpy.float32), ref, numpy.float64)
