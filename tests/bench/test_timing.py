"""benchmarks/timing.py: the statistics and the measuring loop."""
import pytest

from minicnn.bench.timing import measure, summarize


def test_summarize_median_and_quartiles():
    t = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert t.median == 3.0 and t.q1 == 2.0 and t.q3 == 4.0 and t.iqr == 2.0
    assert t.runs == 5
    assert summarize([0.5]).iqr == 0.0
    with pytest.raises(ValueError):
        summarize([])


def test_measure_runs_warmup_setup_and_the_clock():
    calls = {"fn": 0, "setup": 0, "start": 0, "stop": 0}

    class FakeClock:  # stands in for a CUDA-event clock
        def start(self):
            calls["start"] += 1

        def stop(self):
            calls["stop"] += 1
            return 0.25

    def setup():
        calls["setup"] += 1
        return 7

    def fn(state):
        assert state == 7
        calls["fn"] += 1

    t = measure(fn, setup=setup, warmup=2, repeat=4, clock=FakeClock())
    assert t.runs == 4 and t.median == 0.25
    assert calls == {"fn": 6, "setup": 6, "start": 6, "stop": 6}


def test_min_seconds_adds_runs():
    t = measure(lambda: sum(range(1000)), warmup=0, repeat=1, min_seconds=0.002)
    assert t.runs > 1
