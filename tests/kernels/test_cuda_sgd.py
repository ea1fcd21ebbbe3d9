"""minicnn/kernels/cuda/sgd.py: the in-place SGD step against the NumPy reference."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

numba_cuda = pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not numba_cuda.is_available(),
                                reason="numba.cuda has neither a GPU nor the simulator")

from minicnn.kernels.cuda import sgd  # noqa: E402
from minicnn.optim.sgd import _sgd_step_reference  # noqa: E402


@given(st.sampled_from([0.0, 0.9]), st.sampled_from([0.0, 0.3]), st.sampled_from([0.0, 1e-2]),
       st.booleans(), st.sampled_from([numpy.float32, numpy.float64]))
def test_sgd_step_matches_reference_over_two_steps(momentum, dampening, weight_decay,
                                                   nesterov, dtype):
    rng = numpy.random.default_rng(11)
    param = rng.standard_normal((3, 4)).astype(dtype)
    ref_param = param.copy()
    buf = numpy.empty_like(param) if momentum else None
    ref_buf = numpy.empty_like(param) if momentum else None
    for step in range(2):
        grad = rng.standard_normal((3, 4)).astype(dtype)
        args = (0.1, momentum, dampening, weight_decay, nesterov and momentum > 0, step == 0)
        assert sgd.sgd_step(param, grad, buf, *args) is None
        _sgd_step_reference(ref_param, grad, ref_buf, *args)
    tol = dict(rtol=1e-6) if dtype == numpy.float32 else dict(rtol=1e-14)
    numpy.testing.assert_allclose(param, ref_param, **tol)
    if momentum:
        numpy.testing.assert_allclose(buf, ref_buf, **tol)


def test_sgd_step_updates_a_non_contiguous_parameter_in_place(rng):
    base = rng.standard_normal((4, 4))
    param = base[:, ::2]  # a strided view: the update must land in base
    before = param.copy()
    grad = numpy.ones_like(before)
    sgd.sgd_step(param, grad, None, 0.5, 0.0, 0.0, 0.0, False, True)
    numpy.testing.assert_allclose(base[:, ::2], before - 0.5)
