"""Chapter 6's data and model, shared by its three solutions (the chapter's own code)."""
import numpy as np

import minicnn
from minicnn import nn
from minicnn.data import DataNotFoundError, load_dataset


def load_subset(n_train=1500):
    """uint8 (n, 1, 28, 28) images and int64 labels: Fashion-MNIST, or digits scaled up."""
    try:
        ds = load_dataset("fashion-mnist", download=False)
        images = ds.train_images
    except DataNotFoundError:
        print("NOTE: Fashion-MNIST is not installed; using scikit-learn's digits at 28x28")
        ds = load_dataset("digits")
        big = ds.train_images.repeat(3, axis=2).repeat(3, axis=3)      # (N, 1, 24, 24)
        images = np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))         # (N, 1, 28, 28)
    return images[:n_train], ds.train_labels[:n_train]


def to_tensor(images, reference):
    """uint8 (N, 1, 28, 28) -> float32 Tensor normalised with ``reference``'s mean and std."""
    mean, std = reference.mean() / 255, reference.std() / 255
    return minicnn.Tensor(((images / 255.0 - mean) / std).astype(np.float32))


def make_lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )
