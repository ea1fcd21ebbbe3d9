"""Batch transforms: augmentation vectorised over the batch, and normalisation.

A transform is called on a whole float batch and a NumPy generator,
``x = t(x, rng)`` with ``x: (N, C, H, W)``; every random draw comes from
``rng``, so the same generator state gives the same augmented batch. The
``DataLoader`` passes its per-epoch generator, which is how a resumed run
augments exactly as an uninterrupted one.

The settings mirror Keras' ImageDataGenerator, with torchvision's names:

    ImageDataGenerator(rotation_range=10, zoom_range=0.1, shear_range=0.1,
                       width_shift_range=0.1, height_shift_range=0.1,
                       horizontal_flip=True)
    ==
    Compose([RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1),
                          shear=0.1 * 180 / pi),
             RandomHorizontalFlip()])

Pixels moved in from outside the image are 0 (zero padding).
"""
from __future__ import annotations

import numpy

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomAffine",
           "RandomShift", "channel_stats"]


def _check_batch(name: str, x) -> None:
    if not isinstance(x, numpy.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{name}: expected a batch (N, C, H, W) as a numpy array, "
                         f"got {shape}")


class Compose:
    """Apply ``transforms`` in order: ``Compose([RandomCrop(28, 2), Normalize(m, s)])``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """Per-channel ``(x - mean[c]) / std[c]``; draws nothing from ``rng``.

    Take ``mean``/``std`` from the training split only (``channel_stats``),
    so no information leaks from validation or test data.
    """

    def __init__(self, mean, std):
        self.mean = numpy.asarray(mean, dtype=numpy.float32).reshape(-1)
        self.std = numpy.asarray(std, dtype=numpy.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean has {self.mean.size} channels but std has "
                             f"{self.std.size}")
        if (self.std <= 0).any():
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, x, rng=None):
        _check_batch("Normalize", x)
        C = x.shape[1]
        if self.mean.size != C:
            raise ValueError(f"Normalize: batch has {C} channels but mean/std have "
                             f"{self.mean.size}")
        # (C,) -> (1, C, 1, 1) to broadcast over N, H, W
        mean = self.mean.reshape(1, C, 1, 1)
        std = self.std.reshape(1, C, 1, 1)
        return ((x - mean) / std).astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def channel_stats(images) -> tuple:
    """Per-channel mean and std of ``images (N, C, H, W)`` on the [0, 1] scale.

    uint8 images are divided by 255 first, as the DataLoader does.
    """
    x = numpy.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"channel_stats: expected images (N, C, H, W), got shape {x.shape}")
    scale = 255.0 if x.dtype == numpy.uint8 else 1.0
    mean = numpy.zeros(x.shape[1])
    sq = numpy.zeros(x.shape[1])
    # chunks keep the float64 copy small for 50000 CIFAR images
    for start in range(0, len(x), 10000):
        chunk = x[start:start + 10000].astype(numpy.float64) / scale
        mean += chunk.sum(axis=(0, 2, 3))
        sq += (chunk ** 2).sum(axis=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean /= count
    std = numpy.sqrt(numpy.maximum(sq / count - mean ** 2, 0.0))
    return mean.astype(numpy.float32), numpy.maximum(std, 1e-6).astype(numpy.float32)


class RandomCrop:
    """Zero-pad by ``padding`` on every side, then crop a random ``size`` window per image.

    With ``size`` = the image size (or None) this is a random shift by up to
    ``padding`` pixels (the CIFAR recipe ``RandomCrop(32, padding=4)``).
    """

    def __init__(self, size=None, padding: int = 0):
        if isinstance(size, int):
            size = (size, size)
        self.size = tuple(size) if size is not None else None
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, x, rng):
        _check_batch("RandomCrop", x)
        N, C, H, W = x.shape
        OH, OW = self.size if self.size is not None else (H, W)
        P = self.padding
        if OH > H + 2 * P or OW > W + 2 * P:
            raise ValueError(f"RandomCrop: crop {(OH, OW)} is larger than the padded image "
                             f"({H + 2 * P}, {W + 2 * P})")
        padded = numpy.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
        oy = rng.integers(0, H + 2 * P - OH + 1, size=N)
        ox = rng.integers(0, W + 2 * P - OW + 1, size=N)
        rows = oy[:, None] + numpy.arange(OH)  # (N, OH): source row of each output row
        cols = ox[:, None] + numpy.arange(OW)  # (N, OW)
        n = numpy.arange(N)[:, None, None, None]
        c = numpy.arange(C)[None, :, None, None]
        # fancy indexing broadcasts (N,1,1,1) (1,C,1,1) (N,1,OH,1) (N,1,1,OW) -> (N, C, OH, OW)
        return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift(RandomCrop):
    """Shift each image by up to ``max_shift`` pixels in x and y, filling with 0.

    The same as ``RandomCrop(size=None, padding=max_shift)``.
    """

    def __init__(self, max_shift: int):
        super().__init__(size=None, padding=max_shift)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x, rng):
        _check_batch("RandomHorizontalFlip", x)
        flip = rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomAffine:
    """Random rotation, shift, zoom and shear per image, bilinear, zero fill.

    Args:
        degrees: rotation angle drawn from [-degrees, degrees].
        translate: (fx, fy): shift drawn from [-fx*W, fx*W] and [-fy*H, fy*H].
        scale: (lo, hi): zoom factor drawn from [lo, hi].
        shear: shear angle in degrees drawn from [-shear, shear] (along x).

    Each output pixel p (relative to the image centre) samples the input at
    ``A^-1 (p - t)``, where ``A = R(angle) @ Shear(s) * zoom``: the inverse
    map, so every output pixel gets exactly one value.
    """

    def __init__(self, degrees: float = 0.0, translate=None, scale=None, shear: float = 0.0):
        self.degrees = float(degrees)
        self.translate = tuple(translate) if translate is not None else (0.0, 0.0)
        self.scale = tuple(scale) if scale is not None else (1.0, 1.0)
        self.shear = float(shear)
        if self.degrees < 0 or self.shear < 0:
            raise ValueError("RandomAffine: degrees and shear must be >= 0, got "
                             f"{degrees} and {shear}")
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"RandomAffine: scale must be (lo, hi) with 0 < lo <= hi, "
                             f"got {scale}")

    def __call__(self, x, rng):
        _check_batch("RandomAffine", x)
        N, C, H, W = x.shape
        angle = numpy.deg2rad(rng.uniform(-self.degrees, self.degrees, size=N))
        shear = numpy.deg2rad(rng.uniform(-self.shear, self.shear, size=N))
        zoom = rng.uniform(self.scale[0], self.scale[1], size=N)
        tx = rng.uniform(-self.translate[0], self.translate[0], size=N) * W
        ty = rng.uniform(-self.translate[1], self.translate[1], size=N) * H

        # A = zoom * R(angle) @ [[1, tan(shear)], [0, 1]]: (N, 2, 2) acting on (x, y)
        cos, sin = numpy.cos(angle), numpy.sin(angle)
        k = numpy.tan(shear)
        A = numpy.empty((N, 2, 2))
        A[:, 0, 0] = cos
        A[:, 0, 1] = cos * k - sin
        A[:, 1, 0] = sin
        A[:, 1, 1] = sin * k + cos
        A *= zoom[:, None, None]
        A_inv = numpy.linalg.inv(A)

        cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
        gy, gx = numpy.meshgrid(numpy.arange(H) - cy, numpy.arange(W) - cx, indexing="ij")
        # output grid minus shift: (N, 2, H*W)
        p = numpy.stack([gx.ravel()[None] - tx[:, None], gy.ravel()[None] - ty[:, None]],
                        axis=1)
        src = A_inv @ p  # (N, 2, 2) @ (N, 2, H*W) -> (N, 2, H*W)
        sx = src[:, 0] + cx  # (N, H*W) source column
        sy = src[:, 1] + cy  # (N, H*W) source row
        return _bilinear(x, sy, sx).reshape(N, C, H, W)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, "
                f"scale={self.scale}, shear={self.shear})")


def _bilinear(x, sy, sx):
    """Sample ``x (N, C, H, W)`` at float points ``sy, sx (N, P)`` -> (N, C, P), zero outside."""
    N, C, H, W = x.shape
    y0 = numpy.floor(sy).astype(numpy.int64)
    x0 = numpy.floor(sx).astype(numpy.int64)
    wy = (sy - y0).astype(x.dtype)
    wx = (sx - x0).astype(x.dtype)
    n = numpy.arange(N)[:, None, None]  # (N, 1, 1)
    c = numpy.arange(C)[None, :, None]  # (1, C, 1)
    out = numpy.zeros((N, C, sy.shape[1]), dtype=x.dtype)
    for dy, fy in ((0, 1 - wy), (1, wy)):
        for dx, fx in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)  # (N, P)
            yy = numpy.clip(yy, 0, H - 1)
            xx = numpy.clip(xx, 0, W - 1)
            # gather (N, C, P): neighbour values, zeroed where the neighbour is outside
            v = x[n, c, yy[:, None, :], xx[:, None, :]]
            out += v * (fy * fx * inside)[:, None, :]
    return out
