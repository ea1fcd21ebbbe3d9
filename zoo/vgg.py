"""VGG: Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015 — and the Keras CIFAR-100 VGG-16.

The paper's Table 1 (input 3x224x224): numbers are 3x3 convolutions (stride 1,
padding 1, ReLU), 'M' a 2x2/2 max pool; then FC-4096, FC-4096, FC-1000.

    config  weight layers                                             parameters
    A       vgg11   64 M 128 M 256 256 M 512 512 M 512 512 M          132,863,336
    B       vgg13   64 64 M 128 128 M 256 256 M 512 512 M 512 512 M   133,047,848
    D       vgg16   ... 256 x3 ... 512 x3 ... 512 x3                  138,357,544
    E       vgg19   ... 256 x4 ... 512 x4 ... 512 x4                  143,667,240

``batch_norm=True`` (``vgg16_bn``) puts a BatchNorm after every convolution
(vgg16_bn: 138,365,992 parameters). Module names, order and counts are
torchvision's (``features``, ``avgpool`` 7x7 adaptive, ``classifier`` with dropout
0.5), so torchvision state dicts load; the adaptive pool makes any input >= 32x32
legal (a 1x1 map is repeated to 7x7).

``cifar=True`` is the Keras CIFAR-100 tutorial's VGG-16 for 32x32 inputs: the same 13
convolutions, then flatten (512 x 1 x 1) -> 4096 -> 4096 -> classes, no dropout:
34,006,948 parameters with 100 classes.
"""
from __future__ import annotations

from minicnn import nn
from minicnn.nn import init

__all__ = ["VGG", "VGGCifar", "CONFIGS", "make_features", "vgg", "vgg11", "vgg13", "vgg16",
           "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]

# Table 1 of the paper: output channels of each 3x3 conv, 'M' = 2x2 max pool.
CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}
DEPTHS = {11: "A", 13: "B", 16: "D", 19: "E"}


def make_features(config, in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part: conv3x3 [-> BN] -> ReLU for a number, max pool for 'M'."""
    layers, channels = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        channels = v
    return nn.Sequential(*layers)


def _init_weights(model) -> None:
    """torchvision's VGG init: He (fan_out) convs, N(0, 0.01) linears, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            init.constant_(m.weight, 1.0)
            init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.Linear):
            init.normal_(m.weight, 0.0, 0.01)
            init.constant_(m.bias, 0.0)


class VGG(nn.Module):
    """torchvision's VGG: ``features`` -> ``avgpool`` (7x7) -> ``classifier``.

    Shape: input (N, in_channels, H, W) with H, W >= 32; output (N, num_classes).
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000,
                 dropout: float = 0.5, init_weights: bool = True):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            _init_weights(self)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = x.reshape(x.shape[0], -1)       # (N, 512, 7, 7) -> (N, 25088)
        return self.classifier(x)


class VGGCifar(nn.Module):
    """The Keras CIFAR-100 VGG: ``features`` -> flatten -> fc1 -> fc2 -> predictions.

    Keras ends with a softmax; we return logits (``F.cross_entropy`` applies it).
    Shape: input (N, in_channels, input_size, input_size), input_size divisible by 32.
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 100,
                 input_size: int = 32, init_weights: bool = True):
        super().__init__()
        if input_size < 32 or input_size % 32:
            raise ValueError(f"vgg(cifar=True): input_size must be a multiple of 32, "
                             f"got {input_size}")
        size = input_size // 32                 # five 2x2 max pools
        self.features = features
        self.classifier = nn.Sequential(
            nn.Linear(512 * size * size, 4096),  # Keras 'fc1'
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),               # 'fc2'
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),        # 'predictions'
        )
        if init_weights:
            _init_weights(self)

    def forward(self, x):
        x = self.features(x)
        x = x.reshape(x.shape[0], -1)       # (N, 512, s, s) -> (N, 512*s*s)
        return self.classifier(x)


def vgg(depth: int, batch_norm: bool = False, num_classes: int | None = None,
        in_channels: int = 3, cifar: bool = False, input_size: int = 32,
        dropout: float = 0.5, init_weights: bool = True) -> nn.Module:
    """VGG-``depth`` (11, 13, 16, 19) of Table 1; ``cifar=True`` for the Keras CIFAR head.

    ``num_classes`` defaults to 1000 (ImageNet) or 100 (CIFAR-100); ``input_size`` is
    used by the CIFAR head only.
    """
    if depth not in DEPTHS:
        raise ValueError(f"vgg: depth must be one of {sorted(DEPTHS)}, got {depth}")
    features = make_features(CONFIGS[DEPTHS[depth]], in_channels, batch_norm)
    if cifar:
        return VGGCifar(features, 100 if num_classes is None else num_classes, input_size,
                        init_weights)
    return VGG(features, 1000 if num_classes is None else num_classes, dropout, init_weights)


def vgg11(num_classes=None, in_channels=3, batch_norm=False, cifar=False, input_size=32,
          **kwargs):
    """VGG-11, configuration A: 132,863,336 parameters (1000 classes)."""
    return vgg(11, batch_norm, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg13(num_classes=None, in_channels=3, batch_norm=False, cifar=False, input_size=32,
          **kwargs):
    """VGG-13, configuration B: 133,047,848 parameters (1000 classes)."""
    return vgg(13, batch_norm, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg16(num_classes=None, in_channels=3, batch_norm=False, cifar=False, input_size=32,
          **kwargs):
    """VGG-16, configuration D: 138,357,544 parameters (1000 classes);
    ``cifar=True``: the Keras CIFAR-100 VGG-16, 34,006,948 parameters (100 classes)."""
    return vgg(16, batch_norm, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg19(num_classes=None, in_channels=3, batch_norm=False, cifar=False, input_size=32,
          **kwargs):
    """VGG-19, configuration E: 143,667,240 parameters (1000 classes)."""
    return vgg(19, batch_norm, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg11_bn(num_classes=None, in_channels=3, cifar=False, input_size=32, **kwargs):
    """VGG-11 with BatchNorm: 132,868,840 parameters (1000 classes)."""
    return vgg(11, True, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg13_bn(num_classes=None, in_channels=3, cifar=False, input_size=32, **kwargs):
    """VGG-13 with BatchNorm: 133,053,736 parameters (1000 classes)."""
    return vgg(13, True, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg16_bn(num_classes=None, in_channels=3, cifar=False, input_size=32, **kwargs):
    """VGG-16 with BatchNorm: 138,365,992 parameters (1000 classes)."""
    return vgg(16, True, num_classes, in_channels, cifar, input_size, **kwargs)


def vgg19_bn(num_classes=None, in_channels=3, cifar=False, input_size=32, **kwargs):
    """VGG-19 with BatchNorm: 143,678,248 parameters (1000 classes)."""
    return vgg(19, True, num_classes, in_channels, cifar, input_size, **kwargs)
