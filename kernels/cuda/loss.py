"""Fused softmax + cross-entropy on the GPU (softmax_ce.cu and its Numba twins).

Forward gives one block to each row: a max, a sum of exponentials and a sum
of logits are reduced in shared memory, then the row's probabilities and its
loss are written. Backward is elementwise.
"""
from __future__ import annotations

from minicnn.backend import get_array_module, register_kernel
from minicnn.kernels.cuda._arrays import flat, on_gpu
from minicnn.kernels.cuda.launch import grid_for, launch, reduce_block

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


@register_kernel("cuda", "softmax_cross_entropy_forward")
def softmax_cross_entropy_forward(logits, target, label_smoothing):
    """logits: (N, K), target: (N,) int in [0, K) -> (loss (N,), probs (N, K)).

    With lse = log sum_k exp(x_k): loss = (1 - ls)(lse - x_t) + ls (lse - mean_k x_k).
    """
    xp = get_array_module(logits)
    N, K = logits.shape
    loss = xp.empty(N, dtype=logits.dtype)
    probs = xp.empty((N, K), dtype=logits.dtype)
    if N == 0:
        return loss, probs
    launch("softmax_ce", "softmax_cross_entropy_forward", N, reduce_block(K, on_gpu(logits)),
           (flat(logits), flat(target, xp.int64), loss, probs.reshape(-1), N, K,
            float(label_smoothing)), logits.dtype)
    return loss, probs


@register_kernel("cuda", "softmax_cross_entropy_backward")
def softmax_cross_entropy_backward(probs, target, label_smoothing, gloss):
    """glogits (N, K) = gloss[:, None] * (probs - (1 - ls) onehot(target) - ls / K)."""
    xp = get_array_module(probs)
    N, K = probs.shape
    glogits = xp.empty((N, K), dtype=probs.dtype)
    blocks, threads = grid_for(N * K, on_gpu(probs))
    launch("softmax_ce", "softmax_cross_entropy_backward", blocks, threads,
           (flat(probs), flat(target, xp.int64), flat(gloss, probs.dtype),
            glogits.reshape(-1), N, K, float(label_smoothing)), probs.dtype)
    return glogits
