"""Benchmarks, imported as ``minicnn.bench`` (being written)."""
