"""Models by name: ``get_model('resnet18', num_classes=10)`` and ``list_models()``."""
from __future__ import annotations

# Functions, not modules: ``minicnn.zoo.alexnet`` is the builder once the package
# has imported it, so we import every builder from its own file.
from minicnn.zoo.alexnet import alexnet
from minicnn.zoo.cnn import cifar10_bn_cnn, cifar_cnn, fashion_mnist_cnn
from minicnn.zoo.googlenet import googlenet
from minicnn.zoo.lenet import lenet5
from minicnn.zoo.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from minicnn.zoo.resnet_cifar import resnet20, resnet32, resnet44, resnet56, resnet110, resnet164
from minicnn.zoo.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = ["get_model", "list_models", "MODELS"]

# name -> builder; every builder takes num_classes and in_channels.
MODELS = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn, "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn,
    "googlenet": googlenet,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
    "resnet101": resnet101, "resnet152": resnet152,
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56,
    "resnet110": resnet110, "resnet164": resnet164,
    "cifar_cnn": cifar_cnn, "fashion_mnist_cnn": fashion_mnist_cnn,
    "cifar10_bn_cnn": cifar10_bn_cnn,
}


def list_models() -> list[str]:
    """The names ``get_model`` accepts, sorted."""
    return sorted(MODELS)


def get_model(name: str, **kwargs):
    """Build the model called ``name`` with the builder's keyword arguments."""
    if not isinstance(name, str):
        raise TypeError(f"get_model: name must be a str, got {type(name).__name__}")
    key = name.lower()
    if key not in MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; choose one of: "
                         f"{', '.join(list_models())}")
    return MODELS[key](**kwargs)
