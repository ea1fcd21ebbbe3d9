"""Exercise softmax_cross_entropy: the classification loss, fused with its gradient.

    p[n, k] = exp(z[n, k]) / sum_j exp(z[n, j])          z: logits (N, K)
    loss    = -1/N sum_n log p[n, labels[n]]               labels: (N,) int

Check your work with ``minicnn exercise check softmax_cross_entropy``.
"""
import numpy as np  # noqa: F401  (you will need it)


def softmax_cross_entropy(logits, labels):
    """The mean cross-entropy of the softmax of ``logits``, and its gradient.

    Args:
        logits: (N, K) float64, one row of class scores per sample.
        labels: (N,) int, the true class of each sample, in [0, K).
    Returns:
        (loss, glogits): loss a Python float (or 0-d float64 array), the mean
        over the batch; glogits (N, K) float64, d loss / d logits.

    Hint: exp(1000) overflows; softmax does not change when you subtract the
    same number from a whole row, so subtract the row's maximum first. The
    gradient of the mean loss is (p - onehot(labels)) / N.
    """
    raise NotImplementedError("TODO: softmax_cross_entropy: stable softmax, loss, gradient")
