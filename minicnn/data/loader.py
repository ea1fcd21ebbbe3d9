"""Dataset, DataLoader and the train/validation split.

    train, val = train_val_split(images, labels, val_fraction=0.1, seed=0)
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0,
                        transform=Compose([RandomShift(2), Normalize(mean, std)]))
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:          # x: Tensor (B, C, H, W) float32, y: Tensor (B,) int64
            ...

Shuffling and augmentation draw from one generator per epoch, seeded by
``(seed, epoch)``: epoch 3 shuffles and augments the same way whether the run
went straight through or was resumed at epoch 3. ``state_dict()`` records the
seed and epoch for checkpoints.
"""
from __future__ import annotations

import math

import numpy

from minicnn.autograd import Tensor

__all__ = ["Dataset", "ArrayDataset", "DataLoader", "train_val_split", "random_split",
           "Subset"]


class Dataset:
    """Anything with ``__len__`` and ``__getitem__(i) -> (image, label)``."""

    def __len__(self) -> int:
        raise NotImplementedError("abstract: " f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError("abstract: "
                                  f"{type(self).__name__} must define __getitem__")


class ArrayDataset(Dataset):
    """Images (N, C, H, W) and labels (N,) held in memory.

    ``images`` may be uint8 (0..255, the loaders' format) or float.
    """

    def __init__(self, images, labels, classes=None):
        images = numpy.asarray(images)
        labels = numpy.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"ArrayDataset: images must be (N, C, H, W), got shape "
                             f"{images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"ArrayDataset: {images.shape[0]} images but labels have "
                             f"shape {labels.shape}")
        self.images = images
        self.labels = labels.astype(numpy.int64, copy=False)
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def batch(self, indices):
        """Images and labels at ``indices`` in one fancy-index (the fast path)."""
        return self.images[indices], self.labels[indices]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = numpy.asarray(indices, dtype=numpy.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def batch(self, indices):
        return _gather(self.dataset, self.indices[indices])


def _gather(dataset, indices):
    """(images, labels) of ``dataset`` at ``indices``, batched."""
    if hasattr(dataset, "batch"):
        return dataset.batch(indices)
    items = [dataset[int(i)] for i in indices]
    return (numpy.stack([numpy.asarray(im) for im, _ in items]),
            numpy.asarray([lab for _, lab in items], dtype=numpy.int64))


def random_split(dataset, lengths, seed: int = 0):
    """Split ``dataset`` into Subsets of the given lengths, shuffled by ``seed``."""
    if sum(lengths) != len(dataset):
        raise ValueError(f"random_split: lengths {list(lengths)} sum to {sum(lengths)}, "
                         f"but the dataset has {len(dataset)} items")
    order = numpy.random.default_rng(seed).permutation(len(dataset))
    out, start = [], 0
    for n in lengths:
        out.append(Subset(dataset, order[start:start + n]))
        start += n
    return out


def train_val_split(images, labels, val_fraction: float = 0.1, seed: int = 0,
                    classes=None):
    """Hold out ``val_fraction`` of the training data (Keras' ``validation_split``).

    The split is a seeded shuffle; returns ``(train, val)`` ArrayDatasets
    (``val`` is None when ``val_fraction`` is 0).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in [0, 1), got {val_fraction}")
    n = len(labels)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if n_val >= n:
        raise ValueError(f"train_val_split: {n} items leave nothing to train on with "
                         f"val_fraction={val_fraction}")
    order = numpy.random.default_rng(seed).permutation(n)
    val_idx, train_idx = numpy.sort(order[:n_val]), numpy.sort(order[n_val:])
    train = ArrayDataset(images[train_idx], labels[train_idx], classes)
    val = ArrayDataset(images[val_idx], labels[val_idx], classes) if n_val else None
    return train, val


class DataLoader:
    """Batches of ``(x, y)`` Tensors from a dataset.

    Args:
        dataset: an ArrayDataset (or any Dataset).
        batch_size: images per batch.
        shuffle: reshuffle every epoch (from the per-epoch generator).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        transform: ``transform(x, rng)`` on the float batch (augmentation, Normalize).
        seed: the per-epoch generator is ``default_rng((seed, epoch))``.
        device: 'cpu' or 'cuda' (batches are moved there).

    uint8 images are scaled to float32 in [0, 1] before ``transform``.
    """

    def __init__(self, dataset, batch_size: int = 64, shuffle: bool = False,
                 drop_last: bool = False, transform=None, seed: int = 0,
                 device: str = "cpu"):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self.device = device

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle and augmentation the next pass draws."""
        self.epoch = int(epoch)

    def generator(self) -> numpy.random.Generator:
        """This epoch's generator: the same (seed, epoch) always gives the same draws."""
        return numpy.random.default_rng((self.seed, self.epoch))

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def __iter__(self):
        rng = self.generator()
        n = len(self.dataset)
        order = rng.permutation(n) if self.shuffle else numpy.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            images, labels = _gather(self.dataset, idx)
            if images.dtype == numpy.uint8:
                x = images.astype(numpy.float32) / numpy.float32(255.0)
            else:
                x = images.astype(numpy.float32, copy=True)
            if self.transform is not None:
                x = self.transform(x, rng)
            x = numpy.ascontiguousarray(x, dtype=numpy.float32)
            xt, yt = Tensor(x), Tensor(labels.astype(numpy.int64))
            if self.device != "cpu":
                xt, yt = xt.to(self.device), yt.to(self.device)
            yield xt, yt
