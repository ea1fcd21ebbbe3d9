"""benchmarks/startup.py: the start-up script runs in a fresh process."""
from minicnn.bench.startup import measure_startup


def test_startup_measures_two_fresh_processes():
    result = measure_startup()
    assert set(result) == {"first_s", "second_s"}
    assert 0 < result["second_s"] < 60
