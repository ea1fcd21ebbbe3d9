"""Small Keras tutorial CNNs, rebuilt layer for layer so their summaries match.

Where each comes from (tutorial titles, accuracies): docs/references.md.

Keras layers and their minicnn equivalents:
``Conv2D(f, k, activation='relu', padding='same')`` is ``Conv2d(c, f, k, padding=k//2)``
then ``ReLU``; ``MaxPooling2D()`` is ``MaxPool2d(2)``; ``Dense`` is ``Linear``;
``BatchNormalization()`` is ``BatchNorm2d``/``BatchNorm1d`` with Keras's defaults
eps=1e-3 and momentum 0.99 (PyTorch's momentum=0.01). Keras counts the BN moving
mean and variance as non-trainable parameters; ``summary`` does the same. The
models return logits: Keras's final softmax lives in ``F.cross_entropy``.

    model                 input       Keras summary total (trainable / non-trainable)
    cifar_cnn             3x32x32        325,956  (325,956 / 0)        100 classes
    fashion_mnist_cnn     1x28x28      2,589,834  (2,588,106 / 1,728)   10 classes
    cifar10_bn_cnn        3x32x32        652,874  (652,426 / 448)       10 classes

The Keras LeNet-5 MNIST tutorial model is ``lenet5(variant='modern')`` and the Keras
CIFAR-100 VGG-16 is ``vgg16(cifar=True)``.
"""
from __future__ import annotations

from minicnn import nn

__all__ = ["cifar_cnn", "fashion_mnist_cnn", "cifar10_bn_cnn"]


def _keras_bn(kind, channels):
    return kind(channels, eps=1e-3, momentum=0.01)


def cifar_cnn(num_classes: int = 100, in_channels: int = 3, input_size: int = 32):
    """The Keras CIFAR-100 tutorial's basic CNN (Keras functional model "model"):

        conv2d        3x3 16, ReLU      16x30x30        448
        max_pooling   2x2               16x15x15          0
        conv2d_1      3x3 32, ReLU      32x13x13      4,640
        max_pooling   2x2               32x6x6            0
        flatten                         1152              0
        dense         256, ReLU                     295,168
        dense_1       100                            25,700
                                            total   325,956
    """
    size = ((input_size - 2) // 2 - 2) // 2      # two valid 3x3 convs, two 2x2 pools
    if size < 1:
        raise ValueError(f"cifar_cnn: input_size {input_size} is too small (need >= 10)")
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),                            # (N, 32, s, s) -> (N, 32*s*s)
        nn.Linear(32 * size * size, 256), nn.ReLU(),
        nn.Linear(256, num_classes),
    )


def fashion_mnist_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 28):
    """The Keras Fashion-MNIST tutorial model with BatchNorm (``build_model3``):

        conv2d 3x3 32 'same', ReLU -> BN -> max pool 2   32x14x14   320 + 128
        conv2d 3x3 64 'valid', ReLU -> BN -> max pool 2  64x6x6  18,496 + 256
        dropout 0.4
        conv2d 3x3 128 'same', ReLU -> dropout 0.4      128x6x6     73,856
        flatten 4608 -> dense 512, ReLU -> BN          2,359,808 + 2,048
        dense 256, ReLU -> BN                            131,328 + 1,024
        dense 10                                           2,570
        total 2,589,834 = 2,588,106 trainable + 1,728 non-trainable (BN statistics)
    """
    size = (input_size // 2 - 2) // 2
    if size < 1:
        raise ValueError(f"fashion_mnist_cnn: input_size {input_size} is too small "
                         f"(need >= 8)")
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), _keras_bn(nn.BatchNorm2d, 32),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), _keras_bn(nn.BatchNorm2d, 64),
        nn.MaxPool2d(2), nn.Dropout(0.4),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Dropout(0.4),
        nn.Flatten(),                            # (N, 128, s, s) -> (N, 128*s*s)
        nn.Linear(128 * size * size, 512), nn.ReLU(), _keras_bn(nn.BatchNorm1d, 512),
        nn.Linear(512, 256), nn.ReLU(), _keras_bn(nn.BatchNorm1d, 256),
        nn.Linear(256, num_classes),
    )


def cifar10_bn_cnn(num_classes: int = 10, in_channels: int = 3, input_size: int = 32):
    """The Keras CIFAR-10 tutorial CNN with BatchNorm and dropout 0.3:

        3 x [conv2d 3x3 'same' (32, 64, 128), ReLU -> BN -> max pool 2 -> dropout 0.3]
        flatten 2048 -> dense 256, ReLU -> dense 128, ReLU -> dense 10
        total 652,874 = 652,426 trainable + 448 non-trainable
    """
    if input_size < 8 or input_size % 8:
        raise ValueError(f"cifar10_bn_cnn: input_size must be a multiple of 8, "
                         f"got {input_size}")
    layers, channels = [], in_channels
    for width in (32, 64, 128):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                   _keras_bn(nn.BatchNorm2d, width), nn.MaxPool2d(2), nn.Dropout(0.3)]
        channels = width
    size = input_size // 8
    return nn.Sequential(
        *layers,
        nn.Flatten(),                            # (N, 128, s, s) -> (N, 128*s*s)
        nn.Linear(128 * size * size, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, num_classes),
    )
