"""get_model / list_models (zoo/registry.py)."""
import pytest

from minicnn import nn, zoo


def test_list_models_names_every_builder():
    names = zoo.list_models()
    assert names == sorted(names)
    for name in ("lenet5", "alexnet", "vgg16", "vgg16_bn", "googlenet", "resnet50",
                 "resnet20", "resnet164", "cifar_cnn", "fashion_mnist_cnn"):
        assert name in names


def test_get_model_passes_keyword_arguments():
    model = zoo.get_model("resnet20", num_classes=7, in_channels=1)
    assert isinstance(model, nn.Module)
    assert model.fc.out_features == 7 and model.conv1.in_channels == 1
    assert zoo.get_model("LeNet5", variant="modern").variant == "modern"


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError) as info:
        zoo.get_model("resnet19")
    assert "resnet19" in str(info.value)
    for name in zoo.list_models():
        assert name in str(info.value)
    with pytest.raises(TypeError):
        zoo.get_model(None)
