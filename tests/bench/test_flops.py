"""benchmarks/flops.py: FLOP counts checked by hand."""
from minicnn.bench.flops import (
    backward_factor,
    conv2d_flops,
    conv_output_size,
    linear_flops,
    pool_flops,
)


def test_conv_output_size_formula():
    assert conv_output_size(224, 7, 2, 3) == 112          # ResNet stem
    assert conv_output_size(227, 11, 4, 0) == 55          # AlexNet conv1
    assert conv_output_size(28, 5, 1, 2) == 28            # LeNet 'same'
    assert conv_output_size(7, 3, 1, 2, dilation=2) == 7


def test_lenet_conv1_by_hand():
    # 6 filters of 1x5x5 at each of 28x28 positions: 6*28*28*25 = 117,600 MACs/image
    assert conv2d_flops(1, 1, 28, 28, 6, 5, 5, 1, 2) == 2 * 117_600


def test_resnet_stem_by_hand():
    # 64 * 112 * 112 outputs, each 3*7*7 = 147 MACs: 118,013,952 MACs
    assert conv2d_flops(1, 3, 224, 224, 64, 7, 7, 2, 3) == 2 * 118_013_952


def test_grouped_conv_counts_each_group_once():
    # AlexNet conv2: 256 outputs of 48x5x5 (two towers) at 27x27
    assert conv2d_flops(1, 96, 27, 27, 256, 5, 5, 1, 2, groups=2) == \
        2 * 256 * 27 * 27 * 48 * 25


def test_linear_pool_and_backward_factor():
    assert linear_flops(2, 9216, 4096) == 2 * 2 * 9216 * 4096
    assert pool_flops(1, 96, 27, 27, 3, 3) == 96 * 27 * 27 * 9
    assert backward_factor("conv2d") == 2.0 and backward_factor("lrn") == 1.0
