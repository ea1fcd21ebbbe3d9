"""The benchmarked ops, on the layer shapes of the networks in the zoo.

Each ``Case`` knows its op, its shapes, its forward FLOPs, and how to run itself
in minicnn and in PyTorch on the same numbers, so ``ops.py`` can time the two
side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from minicnn.bench.flops import (
    conv2d_flops,
    conv_output_size,
    elementwise_flops,
    linear_flops,
    pool_flops,
)

__all__ = ["Case", "CONV_LAYERS", "RESNET50_TARGETS", "all_cases", "quick_cases"]

# (network, layer, C, H, W, OC, K, stride, padding, groups): the real layers.
CONV_LAYERS = [
    ("LeNet-5", "conv1 5x5", 1, 28, 28, 6, 5, 1, 2, 1),
    ("LeNet-5", "conv2 5x5", 6, 14, 14, 16, 5, 1, 0, 1),
    ("AlexNet", "conv1 11x11/4", 3, 227, 227, 96, 11, 4, 0, 1),
    ("AlexNet", "conv2 5x5 g2", 96, 27, 27, 256, 5, 1, 2, 2),
    ("AlexNet", "conv3 3x3", 256, 13, 13, 384, 3, 1, 1, 1),
    ("AlexNet", "conv4 3x3 g2", 384, 13, 13, 384, 3, 1, 1, 2),
    ("VGG-16", "conv1_2 3x3", 64, 224, 224, 64, 3, 1, 1, 1),
    ("VGG-16", "conv3_2 3x3", 256, 56, 56, 256, 3, 1, 1, 1),
    ("VGG-16", "conv5_2 3x3", 512, 14, 14, 512, 3, 1, 1, 1),
    ("GoogLeNet", "3a 1x1", 192, 28, 28, 64, 1, 1, 0, 1),
    ("GoogLeNet", "3a 3x3", 96, 28, 28, 128, 3, 1, 1, 1),
    ("GoogLeNet", "3a 5x5", 16, 28, 28, 32, 5, 1, 2, 1),
    ("ResNet-50", "stem 7x7/2", 3, 224, 224, 64, 7, 2, 3, 1),
    ("ResNet-50", "3x3 @56", 64, 56, 56, 64, 3, 1, 1, 1),
    ("ResNet-50", "3x3 @28", 128, 28, 28, 128, 3, 1, 1, 1),
    ("ResNet-50", "3x3 @14", 256, 14, 14, 256, 3, 1, 1, 1),
    ("ResNet-50", "1x1 @56", 256, 56, 56, 64, 1, 1, 0, 1),
    ("ResNet-50", "3x3/2 @56", 128, 56, 56, 128, 3, 2, 1, 1),
]
# The performance target set (RESULTS.md): numba within 2x of PyTorch (geometric mean).
RESNET50_TARGETS = ["stem 7x7/2", "3x3 @56", "3x3 @28", "3x3 @14", "1x1 @56"]


@dataclass
class Case:
    """One op on one shape: ``inputs`` are float arrays, ``extra`` integer ones."""

    op: str
    name: str
    network: str
    shapes: list
    flops: int
    ours: object          # (F, *tensors) -> Tensor
    theirs: object        # (torch.nn.functional, *tensors) -> torch.Tensor
    int_inputs: list = field(default_factory=list)

    def make_inputs(self, seed: int = 0, dtype=numpy.float32):
        rng = numpy.random.default_rng(seed)
        floats = [rng.standard_normal(s).astype(dtype) for s in self.shapes]
        return floats, [numpy.asarray(a) for a in self.int_inputs]


def conv_case(network, layer, C, H, W, OC, K, stride, padding, groups, N=8):
    def ours(F, x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    def theirs(tF, x, w, b):
        return tF.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    return Case("conv2d", f"{network} {layer}", network,
                [(N, C, H, W), (OC, C // groups, K, K), (OC,)],
                conv2d_flops(N, C, H, W, OC, K, K, stride, padding, 1, groups),
                ours, theirs)


def max_pool_case(network, C, H, K, S, P=0, N=8):
    OH = conv_output_size(H, K, S, P)
    return Case("max_pool2d", f"{network} max {K}/{S} @{H}", network, [(N, C, H, H)],
                pool_flops(N, C, OH, OH, K, K),
                lambda F, x: F.max_pool2d(x, K, S, P),
                lambda tF, x: tF.max_pool2d(x, K, S, P))


def avg_pool_case(network, C, H, K, S, N=8):
    OH = conv_output_size(H, K, S)
    return Case("avg_pool2d", f"{network} avg {K}/{S} @{H}", network, [(N, C, H, H)],
                pool_flops(N, C, OH, OH, K, K),
                lambda F, x: F.avg_pool2d(x, K, S),
                lambda tF, x: tF.avg_pool2d(x, K, S))


def lrn_case(network, C, H, N=8):
    # AlexNet's n=5, alpha=1e-4 (paper convention) = PyTorch's alpha 5e-4, k=2
    return Case("lrn", f"{network} LRN n=5 @{H}", network, [(N, C, H, H)],
                elementwise_flops(N * C * H * H, 5 + 3),
                lambda F, x: F.local_response_norm(x, 5, 5e-4, 0.75, 2.0),
                lambda tF, x: tF.local_response_norm(x, 5, 5e-4, 0.75, 2.0))


def batch_norm_case(network, C, H, N=8):
    def ours(F, x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    def theirs(tF, x, w, b):
        return tF.batch_norm(x, None, None, w, b, training=True)

    return Case("batch_norm", f"{network} BN {C}@{H}", network,
                [(N, C, H, H), (C,), (C,)], elementwise_flops(N * C * H * H, 6),
                ours, theirs)


def linear_case(network, layer, fan_in, fan_out, N=8):
    return Case("linear", f"{network} {layer}", network,
                [(N, fan_in), (fan_out, fan_in), (fan_out,)],
                linear_flops(N, fan_in, fan_out),
                lambda F, x, w, b: F.linear(x, w, b),
                lambda tF, x, w, b: tF.linear(x, w, b))


def cross_entropy_case(N, K):
    target = numpy.random.default_rng(1).integers(0, K, N)
    return Case("cross_entropy", f"softmax-CE {N}x{K}", "-", [(N, K)],
                elementwise_flops(N * K, 5),
                lambda F, x, t: F.cross_entropy(x, t),
                lambda tF, x, t: tF.cross_entropy(x, t),
                int_inputs=[target])


def all_cases(batch: int = 8) -> list[Case]:
    """The full op table."""
    cases = [conv_case(*layer, N=batch) for layer in CONV_LAYERS]
    cases += [
        max_pool_case("AlexNet", 96, 55, 3, 2, N=batch),
        max_pool_case("VGG-16", 64, 224, 2, 2, N=batch),
        max_pool_case("ResNet-50", 64, 112, 3, 2, 1, N=batch),
        avg_pool_case("LeNet-5", 6, 28, 2, 2, N=batch),
        avg_pool_case("GoogLeNet", 512, 14, 5, 3, N=batch),
        lrn_case("AlexNet", 96, 55, N=batch),
        lrn_case("GoogLeNet", 64, 56, N=batch),
        batch_norm_case("ResNet-50", 64, 112, N=batch),
        batch_norm_case("ResNet-50", 256, 56, N=batch),
        linear_case("LeNet-5", "fc 400-120", 400, 120, N=batch),
        linear_case("AlexNet", "fc6 9216-4096", 9216, 4096, N=batch),
        cross_entropy_case(256, 1000),
    ]
    return cases


def quick_cases() -> list[Case]:
    """A small subset that runs in seconds (tested in the suite)."""
    return [
        conv_case(*CONV_LAYERS[0], N=4),
        conv_case("ResNet-50", "3x3 @14 (C/8)", 32, 14, 14, 32, 3, 1, 1, 1, N=2),
        max_pool_case("AlexNet", 8, 27, 3, 2, N=2),
        lrn_case("AlexNet", 8, 13, N=2),
        batch_norm_case("ResNet-50", 8, 14, N=2),
        linear_case("LeNet-5", "fc 400-120", 400, 120, N=4),
        cross_entropy_case(32, 10),
    ]
