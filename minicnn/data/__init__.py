"""Data: dataset loaders, Dataset/DataLoader, train/validation split, augmentation.

    from minicnn.data import load_dataset, train_val_split, DataLoader, transforms
    ds = load_dataset("fashion-mnist")        # uint8 (N, 1, 28, 28), int64 labels
    train, val = train_val_split(ds.train_images, ds.train_labels, 0.1, seed=0)
"""
from minicnn.data import transforms
from minicnn.data.datasets import (
    DATASETS,
    DataNotFoundError,
    DatasetArrays,
    DatasetError,
    RestrictedUnpickler,
    download,
    idx_bytes,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    read_cifar_batch,
    read_idx,
    restricted_load,
    search_roots,
)
from minicnn.data.loader import (
    ArrayDataset,
    DataLoader,
    Dataset,
    Subset,
    random_split,
    train_val_split,
)
from minicnn.data.transforms import (
    Compose,
    Normalize,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomShift,
    channel_stats,
)

__all__ = [
    "transforms", "DATASETS", "DataNotFoundError", "DatasetArrays", "DatasetError",
    "RestrictedUnpickler", "download", "idx_bytes", "load_cifar10", "load_cifar100", "load_dataset",
    "load_digits", "load_fashion_mnist", "load_mnist", "read_cifar_batch", "read_idx",
    "restricted_load", "search_roots", "ArrayDataset", "DataLoader", "Dataset", "Subset",
    "random_split", "train_val_split", "Compose", "Normalize", "RandomAffine", "RandomCrop",
    "RandomHorizontalFlip", "RandomShift", "channel_stats",
]
