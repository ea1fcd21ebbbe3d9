"""Exercise dropout: inverted dropout (training mode).

Each entry is dropped (set to 0) with probability p; the kept ones are scaled
by 1/(1-p), so the expected output equals the input and evaluation needs no
rescaling.

Check your work with ``minicnn exercise check dropout``.
"""
import numpy as np  # noqa: F401  (you will need it)


def dropout_forward(x, p, rng):
    """Drop each entry of x with probability p.

    Args:
        x: float64 array of any shape.
        p: the drop probability, 0 <= p < 1.
        rng: a numpy.random.Generator; draw your random numbers from it (and
            only from it), e.g. ``rng.random(x.shape)``, so that the same seed
            gives the same mask.
    Returns:
        (y, mask): mask x's shape, 1 where the entry is kept and 0 where it is
        dropped (bool or float); y = x * mask / (1 - p), float64.
    """
    raise NotImplementedError("TODO: dropout_forward: a keep mask from rng, then scale")


def dropout_backward(gy, mask, p):
    """gx = dL/dx given gy = dL/dy and the forward's mask.

    Args:
        gy: float64, x's shape.
        mask: the mask dropout_forward returned.
        p: the drop probability of the forward.
    Returns:
        gx: float64, x's shape.

    Hint: y = x * mask / (1 - p) is linear in x.
    """
    raise NotImplementedError("TODO: dropout_backward: the same mask and scale on gy")
