"""Honest timing: warm-up runs, repeated runs, median and interquartile range.

Engines that are compared are timed in alternating rounds
(``measure_interleaved``), so that a machine that slows down for a while (a
busy neighbour on a shared host) slows every engine alike instead of whichever
one happened to be running.

CPU work is timed with ``time.perf_counter``. GPU work is asynchronous: a
timer that does not wait measures only the launch. GPU runs therefore use a
``clock`` made of CUDA events (``CupyEventClock``, ``TorchEventClock``):
the device is synchronised, an event is recorded before and after the work on
the stream, and the time between the two events is read once the second has
completed.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

__all__ = ["Timing", "measure", "measure_interleaved", "summarize", "PerfCounterClock",
           "CupyEventClock", "TorchEventClock"]


@dataclass
class Timing:
    """Seconds per call over ``runs`` repeats: median and quartiles."""

    median: float
    q1: float
    q3: float
    runs: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict:
        d = asdict(self)
        d["iqr"] = self.iqr
        return d


def summarize(samples) -> Timing:
    """Median and quartiles (inclusive method) of a list of durations."""
    samples = sorted(float(s) for s in samples)
    if not samples:
        raise ValueError("summarize: no samples")
    if len(samples) == 1:
        return Timing(samples[0], samples[0], samples[0], 1)
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return Timing(statistics.median(samples), q1, q3, len(samples))


class PerfCounterClock:
    """The CPU clock: ``start()`` then ``stop()`` returns the seconds in between."""

    def start(self):
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        return time.perf_counter() - self._t0


class CupyEventClock:
    """CUDA events on CuPy's current stream (the device is synchronised first)."""

    def __init__(self):
        import cupy
        self._cupy = cupy
        self._begin, self._end = cupy.cuda.Event(), cupy.cuda.Event()

    def start(self):
        self._cupy.cuda.Device().synchronize()
        self._begin.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._cupy.cuda.get_elapsed_time(self._begin, self._end) / 1e3  # ms -> s


class TorchEventClock:
    """CUDA events on torch's current stream (the device is synchronised first)."""

    def __init__(self):
        import torch
        self._torch = torch
        self._begin = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self):
        self._torch.cuda.synchronize()
        self._begin.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._begin.elapsed_time(self._end) / 1e3  # ms -> s


def measure(fn, setup=None, warmup: int = 2, repeat: int = 5, clock=None,
            min_seconds: float = 0.0) -> Timing:
    """Time ``fn(state)`` where ``state = setup()`` is prepared untimed each run.

    Args:
        fn: the work; receives setup's result (or nothing when setup is None).
        setup: untimed preparation run before every call (e.g. the forward pass
            whose backward is being timed).
        warmup: untimed calls first (JIT compilation, caches, memory pools).
        repeat: timed calls, at least this many.
        clock: ``PerfCounterClock()`` (default) or a CUDA-event clock for GPU work.
        min_seconds: keep repeating until this much time was measured.
    """
    clock = clock or PerfCounterClock()

    def once():
        state = setup() if setup is not None else None
        clock.start()
        if setup is not None:
            fn(state)
        else:
            fn()
        return clock.stop()

    for _ in range(warmup):
        once()
    samples = [once() for _ in range(repeat)]
    while sum(samples) < min_seconds and len(samples) < 1000:
        samples.append(once())
    return summarize(samples)


def measure_interleaved(fns: dict, rounds: int = 5, calls: int = 3, warmup: int = 1,
                        round_seconds: float = 0.0, clock=None) -> dict:
    """Time several functions in alternating rounds: {key: Timing}.

    Each round runs every function in turn: ``warmup`` untimed calls (they
    absorb the switch from the previous function: thread pools waking, caches
    refilling), then at least ``calls`` timed calls, more until
    ``round_seconds`` of that function were measured. Each function's Timing
    is taken over all its timed calls of all rounds. Before the first round,
    every function runs once untimed (compilation, first allocations).
    """
    if not fns:
        raise ValueError("measure_interleaved: no functions to time")
    if rounds < 1 or calls < 1:
        raise ValueError(f"measure_interleaved: rounds and calls must be >= 1, "
                         f"got {rounds} and {calls}")
    clock = clock or PerfCounterClock()
    for fn in fns.values():
        fn()
    samples = {key: [] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            for _ in range(warmup):
                fn()
            spent, n = 0.0, 0
            while n < calls or (spent < round_seconds and n < 1000):
                clock.start()
                fn()
                t = clock.stop()
                samples[key].append(t)
                spent, n = spent + t, n + 1
    return {key: summarize(values) for key, values in samples.items()}
