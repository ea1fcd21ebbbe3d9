"""The process around the engine: thread pools and OpenMP, the allocator,
atomic file writes. Used by the engine's edges (data, training, kernels),
never by the autograd core.
"""
