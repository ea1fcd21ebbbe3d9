"""GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015.

The paper's Table 1 (input 3x224x224). An Inception module runs four branches in
parallel and concatenates them along the channels:
1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | 3x3 max pool -> 1x1 "pool proj".

    layer           output      #1x1  #3x3red  #3x3  #5x5red  #5x5  pool proj
    conv 7x7/2      64x112x112
    max pool 3x3/2  64x56x56
    conv 1x1, 3x3   192x56x56
    max pool 3x3/2  192x28x28
    inception (3a)  256x28x28     64     96     128     16      32     32
    inception (3b)  480x28x28    128    128     192     32      96     64
    max pool 3x3/2  480x14x14
    inception (4a)  512x14x14    192     96     208     16      48     64
    inception (4b)  512x14x14    160    112     224     24      64     64
    inception (4c)  512x14x14    128    128     256     24      64     64
    inception (4d)  528x14x14    112    144     288     32      64     64
    inception (4e)  832x14x14    256    160     320     32     128    128
    max pool 3x3/2  832x7x7
    inception (5a)  832x7x7      256    160     320     32     128    128
    inception (5b)  1024x7x7     384    192     384     48     128    128
    avg pool 7x7    1024x1x1,  dropout 40%,  linear -> 1000

Two auxiliary classifiers on (4a) and (4d), used in training only (their losses
are added with weight 0.3): avg pool 5x5/3 -> 1x1 conv 128 -> FC 1024 -> dropout 70%
-> linear. We pool them adaptively to 4x4 (what 5x5/3 gives on the 14x14 map of a
224 input) so that smaller inputs work too, as torchvision does.

``variant='torchvision'``: torchvision.models.googlenet's modules and names
(``BasicConv2d`` = conv without bias + BatchNorm(eps=1e-3) + ReLU, no LRN, max
pools with ceil_mode). Note torchvision's "5x5" branch is really a 3x3 conv (a
known bug kept for its pretrained weights): 6,624,904 parameters without the aux
heads, 13,004,888 with them. In training mode with ``aux_logits=True`` the model
returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, otherwise logits.

``variant='paper'``: the paper's table with true 5x5 branches, biased convs + ReLU,
no BatchNorm, LRN (size 5, alpha 1e-4, beta 0.75, k 1, as the Caffe reference)
after the first max pool and after the 3x3 conv: 6,998,552 parameters without the
aux heads (the paper counts about 6.8 million).
"""
from __future__ import annotations

from collections import namedtuple

import minicnn.functional as F
from minicnn import nn
from minicnn.nn import init

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "BasicConv2d",
           "INCEPTION_TABLE", "googlenet"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# Table 1 of the paper: in_channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_TABLE = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Module):
    """conv -> [BatchNorm] -> ReLU. torchvision: no bias + BN(eps=1e-3); paper: bias, no BN."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True,
                 **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


class Inception(nn.Module):
    """Four parallel branches concatenated on the channel axis.

    Shape: (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    ``kernel5`` is the "5x5" branch's kernel: 3 in torchvision, 5 in the paper.
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 batch_norm: bool = True, kernel5: int = 3):
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=kernel5, padding=kernel5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, bn, kernel_size=1),
        )

    def forward(self, x):
        outputs = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return F.cat(outputs, 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4x4 -> 1x1 conv 128 -> fc1 1024 -> dropout 0.7 -> fc2."""

    def __init__(self, in_channels: int, num_classes: int, batch_norm: bool = True,
                 dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, batch_norm, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(self.pool(x))            # (N, C, H, W) -> (N, 128, 4, 4)
        x = x.reshape(x.shape[0], -1)          # (N, 128, 4, 4) -> (N, 2048)
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet; ``variant`` 'torchvision' (BN, 3x3 "5x5" branches) or 'paper'.

    Args:
        aux_logits: build the two auxiliary classifiers (used in training mode).
        transform_input: torchvision's re-normalisation of ImageNet inputs (for its
            pretrained weights); False by default.

    Shape: input (N, in_channels, H, W), H, W >= 32 (224 in the paper);
    output (N, num_classes) logits, or GoogLeNetOutputs in training with aux_logits.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 variant: str = "torchvision", transform_input: bool = False,
                 dropout: float | None = None, dropout_aux: float = 0.7,
                 init_weights: bool = True):
        super().__init__()
        if variant not in ("torchvision", "paper"):
            raise ValueError(f"googlenet: variant must be 'torchvision' or 'paper', "
                             f"got {variant!r}")
        if transform_input and in_channels != 3:
            raise ValueError(f"googlenet: transform_input needs 3 input channels, "
                             f"got in_channels={in_channels}")
        paper = variant == "paper"
        bn, kernel5 = not paper, (5 if paper else 3)
        self.variant = variant
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(in_channels, 64, bn, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if paper else None
        self.conv2 = BasicConv2d(64, 64, bn, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, bn, kernel_size=3, padding=1)
        self.lrn2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if paper else None
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def inception(name):
            return Inception(*INCEPTION_TABLE[name], batch_norm=bn, kernel5=kernel5)

        self.inception3a = inception("3a")
        self.inception3b = inception("3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception("4a")
        self.inception4b = inception("4b")
        self.inception4c = inception("4c")
        self.inception4d = inception("4d")
        self.inception4e = inception("4e")
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception("5a")
        self.inception5b = inception("5b")
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, bn, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, bn, dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if dropout is None:
            dropout = 0.4 if paper else 0.2           # the paper's 40%, torchvision's 0.2
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            # torchvision: truncated N(0, 0.01) on convs and linears (we clip at 2 std),
            # BN gamma 1 beta 0.
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    init.normal_(m.weight, 0.0, 0.01)
                    m.weight.data[...] = m.weight.data.clip(-0.02, 0.02)
                    if m.bias is not None:
                        init.constant_(m.bias, 0.0)
                elif isinstance(m, nn.BatchNorm2d):
                    init.constant_(m.weight, 1.0)
                    init.constant_(m.bias, 0.0)

    def _transform_input(self, x):
        # torchvision's pretrained GoogLeNet expects inputs scaled to [-1, 1]; this
        # maps ImageNet-normalised channels c to (c * std_c + mean_c - 0.5) / 0.5.
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        channels = [x[:, c:c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)]
        return F.cat(channels, 1)

    def forward(self, x):
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))                  # (N, 64, H/4, W/4)
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))                     # (N, 192, H/4, W/4)
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)                              # (N, 192, H/8, W/8)
        x = self.inception3b(self.inception3a(x))         # (N, 480, H/8, W/8)
        x = self.maxpool3(x)
        x = self.inception4a(x)                           # (N, 512, H/16, W/16)
        use_aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, ...)
        aux2 = self.aux2(x) if use_aux else None
        x = self.inception4e(x)                           # (N, 832, H/16, W/16)
        x = self.maxpool4(x)
        x = self.inception5b(self.inception5a(x))         # (N, 1024, H/32, W/32)
        x = self.avgpool(x)
        x = x.reshape(x.shape[0], -1)                     # (N, 1024, 1, 1) -> (N, 1024)
        x = self.fc(self.dropout(x))
        if use_aux:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              variant: str = "torchvision", **kwargs) -> GoogLeNet:
    """GoogLeNet: torchvision variant 6,624,904 parameters (13,004,888 with aux heads);
    paper variant 6,998,552 (13,378,280 with aux heads), 1000 classes."""
    return GoogLeNet(num_classes, in_channels, aux_logits, variant, **kwargs)
