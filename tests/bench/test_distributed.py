"""benchmarks/distributed.py: the alpha-beta ring-allreduce model, its fit and projection
(the measurements themselves are benchmarks, run by hand, not tests)."""
import numpy
import pytest

from minicnn.bench.distributed import fit_alpha_beta, project, ring_allreduce_time


def test_ring_allreduce_time_is_the_textbook_formula():
    assert ring_allreduce_time(1, 1e6, 1e-5, 1e-9) == 0.0
    # p = 4: 6 alpha + 2 * 3/4 * beta * n
    assert ring_allreduce_time(4, 1e6, 1e-5, 1e-9) == pytest.approx(6e-5 + 1.5e-3)


def test_fit_recovers_alpha_and_beta_from_exact_times():
    sizes = [2 ** k for k in range(4, 25, 2)]
    times = [2 * 3e-6 + 0.5e-9 * n for n in sizes]
    alpha, beta = fit_alpha_beta(sizes, times)
    assert alpha == pytest.approx(3e-6, rel=1e-6)
    assert beta == pytest.approx(0.5e-9, rel=1e-6)


def test_projection_loses_efficiency_as_communication_grows():
    rows = project(compute_s=0.01, grad_bytes=4 * 10 ** 6, batch=32, alpha=1e-5, beta=1e-9)
    eff = numpy.array([r["efficiency"] for r in rows])
    assert rows[0]["nodes"] == 1 and eff[0] == 1.0
    assert numpy.all(numpy.diff(eff) < 0)
    assert rows[1]["images_per_s"] == pytest.approx(2 * 32 / (0.01 + 2e-5 + 4e-3))
