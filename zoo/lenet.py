"""LeNet-5: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to
document recognition", Proc. IEEE 1998 — and the modern Keras LeNet-5 of an MNIST
tutorial.

The classic network (input 1x32x32, 10 classes), layer by layer as in the paper:

    layer  type                 maps x size     parameters
    C1     conv 5x5, tanh       6 x 28x28            156
    S2     avg pool 2x2/2       6 x 14x14              0
    C3     conv 5x5, tanh      16 x 10x10          2,416
    S4     avg pool 2x2/2      16 x  5x5               0
    C5     conv 5x5, tanh     120 x  1x1          48,120
    F6     linear, tanh            84             10,164
    out    linear                  10                850
                                            total 61,706

(The paper's S2/S4 have a trainable gain and bias per map, its C3 connects only
some S2 maps, and its output layer is RBF units; like every modern re-implementation,
the PyTorch LeNet-5 tutorial's included, we use plain average pooling, full C3 and a
linear output.)

The modern variant is the Keras LeNet-5 MNIST tutorial's model (28x28): ReLU, max pooling,
'same' padding (so C1 and C3 keep the size) and C5 as a Linear layer:

    conv1 5x5 'same' 6, ReLU -> 6x28x28;   pool 2x2 -> 6x14x14
    conv2 5x5 'same' 16, ReLU -> 16x14x14; pool 2x2 -> 16x7x7
    flatten 784 -> fc1 120, ReLU -> fc2 84, ReLU -> fc3 10        107,786 parameters
"""
from __future__ import annotations

from minicnn import nn
from minicnn.functional._geometry import conv_output_size

__all__ = ["LeNet5", "lenet5"]

# The paper's table: (name, out_channels, kernel) for the three convolutions.
CLASSIC_CONVS = [("conv1", 6, 5), ("conv3", 16, 5), ("conv5", 120, 5)]
CLASSIC_FCS = [84]
MODERN_CONVS = [6, 16]
MODERN_FCS = [120, 84]


class LeNet5(nn.Module):
    """LeNet-5, ``variant='classic'`` (LeCun 1998) or ``'modern'`` (the Keras tutorial model).

    Args:
        num_classes: size of the output layer (10 digits).
        in_channels: 1 for grey digits, 3 for CIFAR.
        input_size: side of the square input. Classic: inputs smaller than 32 are
            zero-padded by C1 to 32x32, as LeCun padded 28x28 MNIST digits, so C5
            always sees 5x5 maps (61,706 parameters for any size <= 32).
            Modern: any size divisible by 4 (28 for MNIST, 8 for sklearn digits).
        variant: 'classic' or 'modern'.

    Shape: input (N, in_channels, input_size, input_size), output (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                 variant: str = "classic"):
        super().__init__()
        if variant not in ("classic", "modern"):
            raise ValueError(f"lenet5: variant must be 'classic' or 'modern', got {variant!r}")
        self.variant = variant
        if variant == "classic":
            self._build_classic(num_classes, in_channels, input_size)
        else:
            self._build_modern(num_classes, in_channels, input_size)

    def _build_classic(self, num_classes, in_channels, input_size):
        pad = max(0, (32 - input_size + 1) // 2)
        size = conv_output_size(input_size, 5, padding=pad)      # C1: 5x5
        size = conv_output_size(size // 2, 5)                    # S2 (2x2 pool), then C3
        size = conv_output_size(size // 2, 5)                    # S4 (2x2 pool), then C5
        if size < 1:
            raise ValueError(f"lenet5: input_size {input_size} is too small for the "
                             f"classic LeNet-5")
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad)
        self.pool2 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv3 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool4 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv5 = nn.Conv2d(16, 120, kernel_size=5)
        self.fc6 = nn.Linear(120 * size * size, 84)
        self.fc7 = nn.Linear(84, num_classes)
        self.act = nn.Tanh()
        self.flatten = nn.Flatten()

    def _build_modern(self, num_classes, in_channels, input_size):
        if input_size < 4 or input_size % 4:
            raise ValueError(f"lenet5: the modern variant needs an input_size divisible "
                             f"by 4, got {input_size}")
        size = input_size // 4                   # two 2x2 poolings, 'same' convs
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(kernel_size=2)  # reused, as in the Keras tutorial
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * size * size, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.act = nn.ReLU()

    def forward(self, x):
        if self.variant == "classic":
            x = self.pool2(self.act(self.conv1(x)))
            x = self.pool4(self.act(self.conv3(x)))
            x = self.flatten(self.act(self.conv5(x)))  # (N, 120, s, s) -> (N, 120*s*s)
            x = self.act(self.fc6(x))
            return self.fc7(x)
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = self.flatten(x)                            # (N, 16, s, s) -> (N, 16*s*s)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int | None = None,
           variant: str = "classic") -> LeNet5:
    """LeNet-5 (61,706 parameters classic at 32x32; 107,786 modern at 28x28, 10 classes).

    ``input_size`` defaults to 32 (classic) or 28 (modern).
    """
    if input_size is None:
        input_size = 32 if variant == "classic" else 28
    return LeNet5(num_classes, in_channels, input_size, variant)
