"""The model zoo, imported as ``minicnn.zoo``: classic CNNs that read like their papers.

    from minicnn.zoo import resnet18, get_model, list_models, from_torch
    model = resnet18(num_classes=10)
    model = get_model('vgg16', cifar=True)              # the Keras CIFAR-100 VGG-16
    model = from_torch(resnet18(), torchvision.models.resnet18().state_dict())

One file per family: lenet, alexnet, vgg, googlenet, resnet (ImageNet),
resnet_cifar (ResNet-20...110 and the pre-activation ResNet-164), cnn (small Keras
tutorial models; their sources are in docs/references.md). Every builder takes
``num_classes`` and ``in_channels``.
"""
from minicnn.zoo.alexnet import AlexNet, AlexNetPaper, alexnet
from minicnn.zoo.cnn import cifar10_bn_cnn, cifar_cnn, fashion_mnist_cnn
from minicnn.zoo.convert import from_torch, torch_to_numpy_state_dict
from minicnn.zoo.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from minicnn.zoo.lenet import LeNet5, lenet5
from minicnn.zoo.registry import get_model, list_models
from minicnn.zoo.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from minicnn.zoo.resnet_cifar import (
    CifarResNet,
    PreActResNet,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
    resnet110,
    resnet164,
)
from minicnn.zoo.vgg import (
    VGG,
    VGGCifar,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

__all__ = [
    "get_model", "list_models", "from_torch", "torch_to_numpy_state_dict",
    "LeNet5", "lenet5", "AlexNet", "AlexNetPaper", "alexnet",
    "VGG", "VGGCifar", "vgg11", "vgg13", "vgg16", "vgg19",
    "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "GoogLeNet", "GoogLeNetOutputs", "googlenet",
    "ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152",
    "CifarResNet", "PreActResNet", "resnet20", "resnet32", "resnet44", "resnet56",
    "resnet110", "resnet164",
    "cifar_cnn", "fashion_mnist_cnn", "cifar10_bn_cnn",
]
