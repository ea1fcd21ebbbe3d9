"""Dataset, DataLoader (batching, seeded shuffle, drop_last, epochs), and the splits."""
import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.data import ArrayDataset, DataLoader, Dataset, random_split, train_val_split
from minicnn.data.transforms import RandomShift


def make(n=10, c=1, hw=4):
    images = numpy.arange(n * c * hw * hw, dtype=numpy.uint8).reshape(n, c, hw, hw)
    return images, numpy.arange(n) % 3


@given(n=st.integers(1, 30), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_batches_cover_the_dataset(n, batch_size, drop_last, shuffle):
    images, labels = make(n)
    loader = DataLoader(ArrayDataset(images, labels), batch_size, shuffle=shuffle,
                        drop_last=drop_last, seed=3)
    batches = list(loader)
    assert len(batches) == len(loader)
    sizes = [len(y) for _, y in batches]
    if drop_last:
        assert sizes == [batch_size] * (n // batch_size)
    else:
        assert sum(sizes) == n and all(s == batch_size for s in sizes[:-1])
    seen = numpy.concatenate([y.data for _, y in batches]) if batches else numpy.array([])
    firsts = numpy.concatenate([x.data[:, 0, 0, 0] for x, _ in batches]) if batches else []
    if not drop_last:
        # every image exactly once, with its own label, scaled to [0, 1]
        assert sorted(numpy.round(numpy.asarray(firsts) * 255).astype(int).tolist()) == \
            sorted(images[:, 0, 0, 0].tolist())
        assert sorted(seen.tolist()) == sorted(labels.tolist())


def test_dtypes_and_scaling():
    images, labels = make(4)
    x, y = next(iter(DataLoader(ArrayDataset(images, labels), 4)))
    assert x.dtype == numpy.float32 and y.data.dtype == numpy.int64
    numpy.testing.assert_allclose(x.data, images / 255.0, rtol=1e-6)


def test_shuffle_seeded_per_epoch():
    images, labels = make(20)
    a = DataLoader(ArrayDataset(images, labels), 5, shuffle=True, seed=1)
    b = DataLoader(ArrayDataset(images, labels), 5, shuffle=True, seed=1)
    order = lambda loader: numpy.concatenate([x.data[:, 0, 0, 0] for x, _ in loader])  # noqa
    first = order(a)
    numpy.testing.assert_array_equal(first, order(b))          # same seed, same epoch
    numpy.testing.assert_array_equal(first, order(a))          # re-iterating repeats
    a.set_epoch(1)
    assert not numpy.array_equal(first, order(a))             # a new epoch reshuffles
    b.load_state_dict(a.state_dict())
    numpy.testing.assert_array_equal(order(a), order(b))       # the state carries it
    c = DataLoader(ArrayDataset(images, labels), 5, shuffle=True, seed=2)
    assert not numpy.array_equal(first, order(c))


def test_transform_gets_the_epoch_generator():
    images, labels = make(16, hw=6)
    loader = DataLoader(ArrayDataset(images, labels), 8, transform=RandomShift(2), seed=0)
    one = [x.data.copy() for x, _ in loader]
    two = [x.data.copy() for x, _ in loader]
    for p, q in zip(one, two):
        numpy.testing.assert_array_equal(p, q)


class ListDataset(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_generic_dataset_is_stacked():
    items = [(numpy.full((1, 2, 2), i, numpy.float32), i) for i in range(5)]
    x, y = next(iter(DataLoader(ListDataset(items), 3)))
    assert x.shape == (3, 1, 2, 2) and y.data.tolist() == [0, 1, 2]


def test_train_val_split_is_disjoint_and_seeded():
    images, labels = make(50)
    train, val = train_val_split(images, labels, 0.2, seed=4)
    assert len(train) == 40 and len(val) == 10
    ids = numpy.concatenate([train.images[:, 0, 0, 0], val.images[:, 0, 0, 0]])
    assert sorted(ids.tolist()) == sorted(images[:, 0, 0, 0].tolist())
    again, _ = train_val_split(images, labels, 0.2, seed=4)
    numpy.testing.assert_array_equal(train.images, again.images)
    assert train_val_split(images, labels, 0.0)[1] is None


def test_random_split():
    images, labels = make(10)
    a, b = random_split(ArrayDataset(images, labels), [7, 3], seed=0)
    assert len(a) == 7 and len(b) == 3
    assert set(a.indices.tolist()).isdisjoint(b.indices.tolist())
    x, y = next(iter(DataLoader(b, 3)))
    numpy.testing.assert_array_equal(y.data, labels[b.indices])
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ArrayDataset(images, labels), [6, 3])


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size must be a positive int"),
])
def test_bad_arguments(kwargs, match):
    images, labels = make(4)
    with pytest.raises(ValueError, match=match):
        DataLoader(ArrayDataset(images, labels), **kwargs)


def test_bad_dataset_shapes():
    with pytest.raises(ValueError, match=r"ArrayDataset: images must be \(N, C, H, W\)"):
        ArrayDataset(numpy.zeros((3, 4, 4)), numpy.zeros(3))
    with pytest.raises(ValueError, match="3 images but labels have shape"):
        ArrayDataset(numpy.zeros((3, 1, 4, 4)), numpy.zeros(2))
    with pytest.raises(ValueError, match="val_fraction must be in"):
        train_val_split(numpy.zeros((3, 1, 4, 4)), numpy.zeros(3), 1.0)
