"""ResNets for CIFAR-10 (32x32 inputs).

resnet20 ... resnet110: He, Zhang, Ren, Sun, "Deep Residual Learning for Image
Recognition", CVPR 2016, section 4.2. A 3x3 conv (16) then three stages of n
BasicBlocks (two 3x3 convs each) on 32x32, 16x16 and 8x8 maps with 16, 32, 64
filters, global average pooling and a 10-way fc: 6n + 2 weight layers.

    output map   32x32   16x16   8x8
    layers       1 + 2n    2n     2n
    filters        16      32     64

    model      n   parameters (10 classes)   paper
    resnet20   3      269,722                0.27M
    resnet32   5      464,154                0.46M
    resnet44   7      658,586                0.66M
    resnet56   9      853,018                0.85M
    resnet110 18    1,727,962                1.7M

As the paper does on CIFAR we use identity shortcuts everywhere (option A): where
a stage halves the map and doubles the filters, the shortcut subsamples x with
stride 2 and zero-pads the new channels, so shortcuts add no parameters. (Option B,
1x1 projection convs + BN there, would give resnet20 272,474 parameters.)

resnet164: He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks",
ECCV 2016 — the pre-activation bottleneck ResNet-164 (1.7M parameters), the
Keras CIFAR-10 ResNet tutorial's model: conv 3x3 (16), three stages of 18 units
BN -> ReLU -> 1x1 (w) -> BN -> ReLU -> 3x3 (w) -> BN -> ReLU -> 1x1 (4w), w = 16, 32, 64,
the first unit of each stage with a 1x1 projection shortcut taken from the
pre-activated input (stride 2 in stages 2 and 3), then BN -> ReLU -> global average
pool -> fc: 1,703,258 parameters (no conv has a bias, as in that tutorial).
"""
from __future__ import annotations

import minicnn.functional as F
from minicnn import nn
from minicnn.nn import init

__all__ = ["CifarResNet", "CifarBasicBlock", "PreActBottleneck", "PreActResNet",
           "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet164"]

# Section 4.2: blocks per stage n for depth 6n + 2.
DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
STAGE_WIDTHS = [16, 32, 64]


def _init(model) -> None:
    """He init (fan_in, as the paper's [13]) for convs and fc; BN gamma 1, beta 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            init.constant_(m.weight, 1.0)
            init.constant_(m.bias, 0.0)


class CifarBasicBlock(nn.Module):
    """Two 3x3 convs and an option-A identity shortcut.

    Shape: (N, in_planes, H, W) -> (N, planes, H/stride, W/stride).
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.stride = stride
        self.extra_channels = planes - in_planes

    def shortcut(self, x):
        """Option A: subsample by the stride, zero-pad the extra channels."""
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]   # (N, C, H, W) -> (N, C, H/2, W/2)
        if self.extra_channels:
            half = self.extra_channels // 2
            # pad lists (before, after) from the last dim: W, H, then C.
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """conv1 -> bn1 -> relu -> layer1..3 -> avgpool -> fc (6n + 2 layers).

    Shape: input (N, in_channels, H, W), 32x32 in the paper; output (N, num_classes).
    """

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        in_planes, stages = 16, []
        for i, width in enumerate(STAGE_WIDTHS):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(CifarBasicBlock(in_planes, width, stride))
                in_planes = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))           # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))     # (N, 64, 8, 8)
        x = self.avgpool(x)
        x = x.reshape(x.shape[0], -1)                    # (N, 64, 1, 1) -> (N, 64)
        return self.fc(x)


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: x + conv3(relu(bn3(conv2(relu(bn2(conv1(relu(bn1(x))))))))).

    With a projection (first unit of a stage), the shortcut is a 1x1 conv (stride
    ``stride``) of the pre-activated input relu(bn1(x)), as in the Keras CIFAR-10 ResNet
    tutorial.
    Shape: (N, in_planes, H, W) -> (N, 4 * planes, H/stride, W/stride).
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        else:
            self.shortcut = None

    def forward(self, x):
        pre = self.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + identity


class PreActResNet(nn.Module):
    """conv1 -> layer1..3 (pre-activation bottlenecks) -> bn -> relu -> avgpool -> fc.

    Shape: input (N, in_channels, H, W), 32x32 for CIFAR; output (N, num_classes).
    """

    def __init__(self, units_per_stage: int = 18, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        in_planes, stages = 16, []
        for i, width in enumerate(STAGE_WIDTHS):
            units = []
            for j in range(units_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                units.append(PreActBottleneck(in_planes, width, stride))
                in_planes = width * PreActBottleneck.expansion
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_planes, num_classes)
        _init(self)

    def forward(self, x):
        x = self.conv1(x)                                 # (N, 16, 32, 32)
        x = self.layer3(self.layer2(self.layer1(x)))      # (N, 256, 8, 8)
        x = self.avgpool(self.relu(self.bn(x)))
        x = x.reshape(x.shape[0], -1)                     # (N, 256, 1, 1) -> (N, 256)
        return self.fc(x)


def _cifar_resnet(depth, num_classes, in_channels):
    return CifarResNet(DEPTHS[depth], num_classes, in_channels)


def resnet20(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-20 for CIFAR (n=3): 269,722 parameters (the paper's 0.27M)."""
    return _cifar_resnet(20, num_classes, in_channels)


def resnet32(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-32 for CIFAR (n=5): 464,154 parameters (0.46M)."""
    return _cifar_resnet(32, num_classes, in_channels)


def resnet44(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-44 for CIFAR (n=7): 658,586 parameters (0.66M)."""
    return _cifar_resnet(44, num_classes, in_channels)


def resnet56(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-56 for CIFAR (n=9): 853,018 parameters (0.85M)."""
    return _cifar_resnet(56, num_classes, in_channels)


def resnet110(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet-110 for CIFAR (n=18): 1,727,962 parameters (1.7M)."""
    return _cifar_resnet(110, num_classes, in_channels)


def resnet164(num_classes: int = 10, in_channels: int = 3) -> PreActResNet:
    """Pre-activation bottleneck ResNet-164 for CIFAR (18 units per stage):
    1,703,258 parameters (the paper's 1.7M)."""
    return PreActResNet(18, num_classes, in_channels)
