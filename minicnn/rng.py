"""One seeded random generator for everything minicnn draws (init, dropout, shuffles).

``minicnn.manual_seed(n)`` makes weight initialisation, dropout masks and data
shuffling reproducible. The generator is NumPy's PCG64; CuPy data draws on the
host and is copied over, so a seed gives the same numbers on CPU and GPU.
"""
from __future__ import annotations

import numpy

__all__ = ["manual_seed", "get_rng", "get_rng_state", "set_rng_state"]

_rng = numpy.random.default_rng()


def manual_seed(seed: int) -> numpy.random.Generator:
    """Reseed minicnn's generator; returns it."""
    global _rng
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _rng = numpy.random.default_rng(int(seed))
    return _rng


def get_rng() -> numpy.random.Generator:
    """The generator every minicnn op draws from."""
    return _rng


def get_rng_state() -> dict:
    """A JSON-able snapshot of the generator (saved in checkpoints)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by ``get_rng_state``."""
    _rng.bit_generator.state = state
