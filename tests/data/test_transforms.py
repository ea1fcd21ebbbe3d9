"""Each batch transform: what it does, that it is seeded, and that it validates."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.data.transforms import (
    Compose,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomShift,
    channel_stats,
)


def batch(N=6, C=2, H=7, W=5, seed=0):
    return numpy.random.default_rng(seed).random((N, C, H, W)).astype(numpy.float32)


@given(padding=st.integers(0, 3), seed=st.integers(0, 100))
def test_random_crop_is_a_window_of_the_padded_image(padding, seed):
    x = batch()
    out = RandomCrop((5, 4), padding=padding)(x, numpy.random.default_rng(seed))
    assert out.shape == (6, 2, 5, 4)
    padded = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    for n in range(len(x)):
        hits = [(i, j) for i in range(padded.shape[2] - 4) for j in range(padded.shape[3] - 3)
                if numpy.array_equal(padded[n, :, i:i + 5, j:j + 4], out[n])]
        assert hits, "each crop must be a window of the zero-padded image"


def test_random_shift_keeps_size_and_moves_pixels():
    x = numpy.zeros((50, 1, 9, 9), numpy.float32)
    x[:, :, 4, 4] = 1.0
    out = RandomShift(2)(x, numpy.random.default_rng(0))
    assert out.shape == x.shape and numpy.all(out.sum(axis=(1, 2, 3)) == 1.0)
    pos = numpy.argwhere(out[:, 0] == 1.0)[:, 1:]
    assert numpy.all(numpy.abs(pos - 4) <= 2) and len({tuple(p) for p in pos}) > 5


def test_flip():
    x = batch(N=200)
    out = RandomHorizontalFlip(0.5)(x, numpy.random.default_rng(0))
    flipped = numpy.array([numpy.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)])
    kept = numpy.array([numpy.array_equal(o, i) for o, i in zip(out, x)])
    assert numpy.all(flipped | kept) and 60 < flipped.sum() < 140
    numpy.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x, numpy.random.default_rng(1)),
                                     x[..., ::-1])
    numpy.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, numpy.random.default_rng(1)),
                                     x)


def test_affine_identity_and_rotation():
    x = batch(H=9, W=9)
    numpy.testing.assert_allclose(RandomAffine()(x, numpy.random.default_rng(0)), x, atol=1e-6)
    # a 90 degree rotation of a square image is exact: compare with rot90
    t = RandomAffine(degrees=90)
    rng = numpy.random.default_rng(0)

    class Fixed:  # a generator whose uniform() returns the upper bound
        def uniform(self, lo, hi, size):
            return numpy.full(size, hi, dtype=numpy.float64)
    out = t(x, Fixed())
    rotated = numpy.rot90(x, k=-1, axes=(2, 3))
    other = numpy.rot90(x, k=1, axes=(2, 3))
    assert numpy.allclose(out, rotated, atol=1e-5) or numpy.allclose(out, other, atol=1e-5)
    assert t(x, rng).shape == x.shape


def test_affine_zoom_and_shift_zero_fill():
    x = numpy.ones((4, 1, 10, 10), numpy.float32)
    out = RandomAffine(scale=(0.5, 0.5))(x, numpy.random.default_rng(0))
    assert out[:, :, 0, 0].max() == 0.0 and out[:, :, 5, 5].min() == pytest.approx(1.0)
    out = RandomAffine(translate=(0.3, 0.3), shear=20)(x, numpy.random.default_rng(0))
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6 and out.mean() < 1.0


@pytest.mark.parametrize("t", [RandomCrop(5, 2), RandomShift(1), RandomHorizontalFlip(),
                               RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 5)])
def test_seeded(t):
    x = batch()
    a = t(x, numpy.random.default_rng(7))
    b = t(x, numpy.random.default_rng(7))
    c = t(x, numpy.random.default_rng(8))
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.array_equal(a, c)


def test_normalize_and_stats():
    images = numpy.random.default_rng(0).integers(0, 256, (20, 3, 4, 4)).astype(numpy.uint8)
    mean, std = channel_stats(images)
    x = images.astype(numpy.float32) / 255
    numpy.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-5)
    numpy.testing.assert_allclose(std, x.std(axis=(0, 2, 3)), rtol=1e-4)
    out = Normalize(mean, std)(x)
    numpy.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert out.dtype == numpy.float32


def test_compose_order():
    x = numpy.ones((2, 1, 3, 3), numpy.float32)
    t = Compose([RandomCrop(3, padding=1), Normalize([0.5], [0.5])])
    out = t(x, numpy.random.default_rng(0))
    assert set(numpy.unique(out).tolist()) <= {-1.0, 1.0}


def test_validation_messages():
    with pytest.raises(ValueError, match="Normalize: batch has 2 channels but mean/std have 1"):
        Normalize([0.5], [0.2])(batch())
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match=r"RandomCrop: crop \(20, 20\) is larger"):
        RandomCrop(20)(batch(), numpy.random.default_rng(0))
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: expected a batch"):
        RandomHorizontalFlip()(numpy.zeros((3, 3)), numpy.random.default_rng(0))
    with pytest.raises(ValueError, match="p must be in"):
        RandomHorizontalFlip(2)
    with pytest.raises(ValueError, match="scale must be"):
        RandomAffine(scale=(0, 1))
