"""LeNet-5 (zoo/lenet.py): the paper's 61,706 parameters and the Keras MNIST tutorial's LeNet."""
import pytest

from minicnn import nn
from minicnn.zoo import lenet5


@pytest.mark.parametrize("input_size", [32, 28, 8])
def test_classic_has_the_papers_61706_parameters(input_size):
    model = lenet5(input_size=input_size)
    assert model.num_parameters() == 61_706
    assert [type(m).__name__ for m in (model.conv1, model.pool2, model.conv5)] == [
        "Conv2d", "AvgPool2d", "Conv2d"]
    assert isinstance(model.act, nn.Tanh)


def test_modern_is_the_keras_tutorial_lenet():
    model = lenet5(variant="modern")
    # conv 5x5 'same' 6 (156), conv 5x5 'same' 16 (2,416), 784->120, 120->84, 84->10
    assert model.num_parameters() == 156 + 2_416 + 94_200 + 10_164 + 850 == 107_786
    assert isinstance(model.pool, nn.MaxPool2d) and isinstance(model.act, nn.ReLU)


@pytest.mark.parametrize("variant,size,channels", [("classic", 32, 1), ("classic", 28, 1),
                                                   ("modern", 28, 1), ("modern", 8, 3)])
def test_forward_backward(forward_backward, variant, size, channels):
    model = lenet5(num_classes=7, in_channels=channels, input_size=size, variant=variant)
    forward_backward(model, (2, channels, size, size), 7)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="variant"):
        lenet5(variant="fancy")
    with pytest.raises(ValueError, match="divisible by 4"):
        lenet5(variant="modern", input_size=30)
