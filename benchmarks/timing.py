"""Honest timing: warm-up runs, repeated runs, median and interquartile range.

CPU work is timed with ``time.perf_counter``. GPU work is asynchronous: a
timer that does not wait measures only the launch. ``measure`` therefore calls
``sync()`` before starting and before stopping the clock (``cupy``'s or
``torch.cuda``'s synchronize), which on a GPU is equivalent to CUDA events
recorded around the work once the stream is idle.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

__all__ = ["Timing", "measure", "summarize"]


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


def _no_sync():
    return None


def measure(fn, setup=None, warmup: int = 2, repeat: int = 5, sync=None,
            min_seconds: float = 0.0) -> Timing:
    """Time ``fn(state)`` where ``state = setup()`` is prepared untimed each run.

    Args:
        fn: the work; receives setup's result (or nothing when setup is None).
        setup: untimed preparation run before every call (e.g. the forward pass
            whose backward is being timed).
        warmup: untimed calls first (JIT compilation, caches, memory pools).
        repeat: timed calls, at least this many.
        sync: called before starting and before stopping the clock (GPU).
        min_seconds: keep repeating until this much time was measured.
    """
    sync = sync or _no_sync

    def once():
        state = setup() if setup is not None else None
        sync()
        start = time.perf_counter()
        if setup is not None:
            fn(state)
        else:
            fn()
        sync()
        return time.perf_counter() - start

    for _ in range(warmup):
        once()
    samples = [once() for _ in range(repeat)]
    while sum(samples) < min_seconds and len(samples) < 1000:
        samples.append(once())
    return summarize(samples)
