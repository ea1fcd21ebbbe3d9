"""The small Keras tutorial CNNs (zoo/cnn.py)."""
import pytest

from minicnn import nn
from minicnn.zoo import cifar10_bn_cnn, cifar_cnn, fashion_mnist_cnn


def test_keras_batchnorm_defaults():
    bns = [m for m in fashion_mnist_cnn().modules()
           if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert [m.num_features for m in bns] == [32, 64, 512, 256]
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)


@pytest.mark.parametrize("build,shape,classes", [
    (cifar_cnn, (2, 3, 32, 32), 100),
    (fashion_mnist_cnn, (2, 1, 28, 28), 10),
    (cifar10_bn_cnn, (2, 3, 32, 32), 10),
])
def test_forward_backward(forward_backward, build, shape, classes):
    forward_backward(build(), shape, classes)


def test_other_input_sizes():
    assert cifar_cnn(num_classes=10, input_size=64)[7].in_features == 32 * 14 * 14
    with pytest.raises(ValueError, match="multiple of 8"):
        cifar10_bn_cnn(input_size=30)
