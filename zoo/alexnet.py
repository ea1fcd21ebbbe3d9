"""AlexNet: Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012.

The paper's network (input 3x224x224, 1000 classes), split over two GPUs: conv2,
conv4 and conv5 see only the maps of their own GPU, which is exactly a grouped
convolution with groups=2; conv3 and the fully connected layers see both.

    layer  kernel / stride   maps        groups  then                       parameters
    conv1  11x11 / 4, pad 2    96 x 55x55     1  ReLU, LRN, max pool 3x3/2      34,944
    conv2   5x5  / 1, pad 2   256 x 27x27     2  ReLU, LRN, max pool 3x3/2     307,456
    conv3   3x3  / 1, pad 1   384 x 13x13     1  ReLU                          885,120
    conv4   3x3  / 1, pad 1   384 x 13x13     2  ReLU                          663,936
    conv5   3x3  / 1, pad 1   256 x 13x13     2  ReLU, max pool 3x3/2          442,624
    fc6     9216 -> 4096                         ReLU, dropout 0.5          37,752,832
    fc7     4096 -> 4096                         ReLU, dropout 0.5          16,781,312
    fc8     4096 -> 1000                                                     4,097,000
                                                                    total   60,965,224

LRN is the paper's b = a / (k + alpha * sum_{5 neighbours} a^2)^beta with k=2, n=5,
alpha=1e-4, beta=0.75; PyTorch's LocalResponseNorm divides alpha by the size, so
the paper's alpha=1e-4 is ``LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2)``.
The paper says 224x224 inputs, which only give 55x55 maps after conv1 with 2 pixels
of padding (or a 227x227 input); we pad by 2, as torchvision does. Pooling is
"overlapping": 3x3 windows with stride 2.

``variant='torchvision'`` is torchvision.models.alexnet (the one-GPU "One weird
trick" version, Krizhevsky 2014: 64-192-384-256-256 maps, no LRN, no groups, an
adaptive 6x6 average pool before the classifier): 61,100,840 parameters, same
module names, so its state dict loads.
"""
from __future__ import annotations

from minicnn import nn
from minicnn.functional._geometry import conv_output_size

__all__ = ["AlexNet", "AlexNetPaper", "alexnet"]

# The paper's table: (out_channels, kernel, stride, padding, groups, LRN?, pool?)
PAPER_CONVS = [
    (96, 11, 4, 2, 1, True, True),
    (256, 5, 1, 2, 2, True, True),
    (384, 3, 1, 1, 1, False, False),
    (384, 3, 1, 1, 2, False, False),
    (256, 3, 1, 1, 2, False, True),
]
PAPER_FCS = [4096, 4096]


class AlexNet(nn.Module):
    """torchvision's AlexNet: ``features`` -> ``avgpool`` (6x6) -> ``classifier``.

    Shape: input (N, in_channels, H, W) with H, W >= 63; output (N, num_classes).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = x.reshape(x.shape[0], -1)       # (N, 256, 6, 6) -> (N, 9216)
        return self.classifier(x)


class AlexNetPaper(nn.Module):
    """Krizhevsky et al. 2012 as in the paper's table (two GPU towers as groups=2).

    Args:
        input_size: side of the square input (224 in the paper); fc6's input size
            is 256 * s * s where s is the side of the last pooled map (6 at 224).

    Shape: input (N, in_channels, input_size, input_size), output (N, num_classes).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 dropout: float = 0.5):
        super().__init__()
        layers, channels, size = [], in_channels, input_size
        for out_channels, kernel, stride, padding, groups, lrn, pool in PAPER_CONVS:
            layers.append(nn.Conv2d(channels, out_channels, kernel_size=kernel,
                                    stride=stride, padding=padding, groups=groups))
            layers.append(nn.ReLU(inplace=True))
            size = conv_output_size(size, kernel, stride, padding)
            if lrn:
                layers.append(nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0))
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
                size = conv_output_size(size, 3, 2, 0)
            channels = out_channels
        if size < 1:
            raise ValueError(f"alexnet: input_size {input_size} is too small for the paper "
                             f"AlexNet (need at least 63)")
        self.features = nn.Sequential(*layers)
        classifier, features = [], channels * size * size
        for width in PAPER_FCS:
            classifier += [nn.Linear(features, width), nn.ReLU(inplace=True),
                           nn.Dropout(p=dropout)]
            features = width
        classifier.append(nn.Linear(features, num_classes))
        self.classifier = nn.Sequential(*classifier)

    def forward(self, x):
        x = self.features(x)
        x = x.reshape(x.shape[0], -1)       # (N, 256, s, s) -> (N, 256*s*s)
        return self.classifier(x)


def alexnet(num_classes: int = 1000, in_channels: int = 3, variant: str = "torchvision",
            input_size: int = 224, dropout: float = 0.5) -> nn.Module:
    """AlexNet: ``variant='torchvision'`` (61,100,840 parameters) or ``'paper'``
    (60,965,224 parameters at 224x224 with 1000 classes). ``input_size`` is used by
    the paper variant only (torchvision's pools adaptively to 6x6)."""
    if variant == "torchvision":
        return AlexNet(num_classes, in_channels, dropout)
    if variant == "paper":
        return AlexNetPaper(num_classes, in_channels, input_size, dropout)
    raise ValueError(f"alexnet: variant must be 'torchvision' or 'paper', got {variant!r}")
