"""ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016 — the ImageNet networks of Table 1, in torchvision's layout and names.

Input 3x224x224. conv1 7x7/2 (64) -> max pool 3x3/2 -> four stages -> global
average pool -> fc. A stage is a stack of residual blocks y = relu(F(x) + shortcut(x));
the first block of stages 2-4 halves the size (stride 2) and the shortcut is then a
1x1 stride-2 conv + BN (the paper's option B).

    stage  output   resnet18/34 (BasicBlock)    resnet50/101/152 (Bottleneck)
    conv1  112x112  7x7, 64, stride 2           7x7, 64, stride 2
    conv2   56x56   [3x3 64,  3x3 64]  x2 / x3  [1x1 64, 3x3 64, 1x1 256]     x3 / x3 / x3
    conv3   28x28   [3x3 128, 3x3 128] x2 / x4  [1x1 128, 3x3 128, 1x1 512]   x4 / x4 / x8
    conv4   14x14   [3x3 256, 3x3 256] x2 / x6  [1x1 256, 3x3 256, 1x1 1024]  x6 / x23 / x36
    conv5    7x7    [3x3 512, 3x3 512] x2 / x3  [1x1 512, 3x3 512, 1x1 2048]  x3 / x3 / x3

    parameters (1000 classes): resnet18 11,689,512   resnet34 21,797,672
    resnet50 25,557,032   resnet101 44,549,160   resnet152 60,192,808

As torchvision (ResNet v1.5), a Bottleneck's stride sits in its 3x3 conv, not in the
first 1x1 conv as in the paper. ``zero_init_residual=True`` starts the last BN of
every block at gamma = 0, so each block begins as the identity (Goyal et al. 2017).
"""
from __future__ import annotations

from minicnn import nn
from minicnn.nn import init

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "conv3x3", "conv1x1", "LAYERS",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

# Table 1 of the paper: block type and number of blocks in each of the 4 stages.
LAYERS = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
    152: ("bottleneck", [3, 8, 36, 3]),
}


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                     bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here) -> 1x1 expand (x4), plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """conv1 -> bn1 -> relu -> maxpool -> layer1..4 -> avgpool -> fc (torchvision names).

    Shape: input (N, in_channels, H, W) with H, W >= 32 (224 in the paper);
    output (N, num_classes).
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 zero_init_residual: bool = False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.constant_(m.weight, 1.0)
                init.constant_(m.bias, 0.0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.constant_(m.bn3.weight, 0.0)
                elif isinstance(m, BasicBlock):
                    init.constant_(m.bn2.weight, 0.0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = x.reshape(x.shape[0], -1)       # (N, 512*expansion, 1, 1) -> (N, 512*expansion)
        return self.fc(x)


def _resnet(depth: int, num_classes: int, in_channels: int, zero_init_residual: bool):
    kind, layers = LAYERS[depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    return ResNet(block, layers, num_classes, in_channels, zero_init_residual)


def resnet18(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False):
    """ResNet-18 (BasicBlock [2, 2, 2, 2]): 11,689,512 parameters."""
    return _resnet(18, num_classes, in_channels, zero_init_residual)


def resnet34(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False):
    """ResNet-34 (BasicBlock [3, 4, 6, 3]): 21,797,672 parameters."""
    return _resnet(34, num_classes, in_channels, zero_init_residual)


def resnet50(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False):
    """ResNet-50 (Bottleneck [3, 4, 6, 3]): 25,557,032 parameters."""
    return _resnet(50, num_classes, in_channels, zero_init_residual)


def resnet101(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False):
    """ResNet-101 (Bottleneck [3, 4, 23, 3]): 44,549,160 parameters."""
    return _resnet(101, num_classes, in_channels, zero_init_residual)


def resnet152(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False):
    """ResNet-152 (Bottleneck [3, 8, 36, 3]): 60,192,808 parameters."""
    return _resnet(152, num_classes, in_channels, zero_init_residual)
