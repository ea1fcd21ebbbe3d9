"""benchmarks/timing.py: the statistics and the measuring loop."""
import pytest

from minicnn.bench.timing import measure, measure_interleaved, summarize


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


def test_measure_interleaved_alternates_rounds_with_warmup():
    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    timings = measure_interleaved(fns, rounds=2, calls=2, warmup=1)
    # one untimed call each, then per round: 1 warm-up + 2 timed calls each, in turn
    assert order == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 2
    assert set(timings) == {"a", "b"} and timings["a"].runs == timings["b"].runs == 4


def test_measure_interleaved_round_seconds_adds_calls_and_bad_arguments_fail():
    t = measure_interleaved({"x": lambda: sum(range(1000))}, rounds=1, calls=1, warmup=0,
                            round_seconds=0.002)
    assert t["x"].runs > 1
    with pytest.raises(ValueError, match="no functions"):
        measure_interleaved({})
    with pytest.raises(ValueError, match="rounds and calls"):
        measure_interleaved({"x": int}, rounds=0)
