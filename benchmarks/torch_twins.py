"""PyTorch twins of the benchmarked zoo models, holding the same weights.

For the torchvision-compatible models the twin is torchvision's own model; for
LeNet-5 and the CIFAR ResNet-20, which torchvision lacks, it is written here
with the same module names as minicnn.zoo, so one ``state_dict`` fits both.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["torch_twin", "TorchLeNet5", "TorchCifarResNet"]


class TorchLeNet5(nn.Module):
    """The twin of ``minicnn.zoo.lenet5`` (both variants), same module names."""

    def __init__(self, ours):
        super().__init__()
        self.variant = ours.variant
        for name, child in ours.named_children():
            self.add_module(name, _leaf_twin(child))

    def forward(self, x):
        if self.variant == "classic":
            x = self.pool2(self.act(self.conv1(x)))
            x = self.pool4(self.act(self.conv3(x)))
            x = self.flatten(self.act(self.conv5(x)))
            return self.fc7(self.act(self.fc6(x)))
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = self.flatten(x)
        x = self.act(self.fc2(self.act(self.fc1(x))))
        return self.fc3(x)


class _TorchCifarBlock(nn.Module):
    def __init__(self, block):
        super().__init__()
        c1, c2 = block.conv1, block.conv2
        self.conv1 = nn.Conv2d(c1.in_channels, c1.out_channels, 3, c1.stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1.out_channels)
        self.conv2 = nn.Conv2d(c2.in_channels, c2.out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2.out_channels)
        self.stride, self.extra = block.stride, block.extra_channels

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride != 1 else x
        if self.extra:
            half = self.extra // 2
            short = nn.functional.pad(short, (0, 0, 0, 0, half, self.extra - half))
        return torch.relu(out + short)


class TorchCifarResNet(nn.Module):
    """The twin of ``minicnn.zoo.resnet20`` … ``resnet110`` (option-A shortcuts)."""

    def __init__(self, ours):
        super().__init__()
        self.conv1 = nn.Conv2d(ours.conv1.in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1, self.layer2, self.layer3 = (
            nn.Sequential(*[_TorchCifarBlock(b) for b in stage])
            for stage in (ours.layer1, ours.layer2, ours.layer3))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, ours.fc.out_features)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _leaf_twin(module):
    """The torch.nn layer matching one minicnn leaf layer (LeNet's building blocks)."""
    kind = type(module).__name__
    if kind == "Conv2d":
        return nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size,
                         module.stride, module.padding)
    if kind == "Linear":
        return nn.Linear(module.in_features, module.out_features)
    simple = {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "Flatten": nn.Flatten}
    if kind in simple:
        return simple[kind]()
    if kind == "MaxPool2d":
        return nn.MaxPool2d(module.kernel_size, module.stride)
    if kind == "AvgPool2d":
        return nn.AvgPool2d(module.kernel_size, module.stride)
    raise TypeError(f"torch_twin: no twin for layer type {kind}")


def torch_twin(spec, ours):
    """A PyTorch model with ``ours``'s architecture and weights (float32, CPU)."""
    import torchvision.models as tvm

    if spec.name == "lenet5":
        twin = TorchLeNet5(ours)
    elif spec.name in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"):
        twin = TorchCifarResNet(ours)
    elif spec.name == "googlenet":
        twin = tvm.googlenet(weights=None, aux_logits=False, init_weights=False,
                             num_classes=spec.num_classes)
    else:
        twin = getattr(tvm, spec.name)(weights=None, num_classes=spec.num_classes)
    state = {k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()}
    twin.load_state_dict(state)
    return twin
