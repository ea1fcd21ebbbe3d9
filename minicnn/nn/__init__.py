"""minicnn.nn: layers as Modules that own their parameters (PyTorch's names).

    from minicnn import nn
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 16 * 16, 10))
    logits = model(x)                        # (N, 3, 32, 32) -> (N, 10)
    model.state_dict()['0.weight'].shape     # (16, 3, 3, 3), as in PyTorch

Every layer is a thin Module over an op in ``minicnn.functional``; ``Module``
does the bookkeeping (parameters, buffers, state dicts, train/eval, dtype and
device moves).
"""
from minicnn.nn import init
from minicnn.nn.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from minicnn.nn.container import ModuleDict, ModuleList, Sequential
from minicnn.nn.conv import Conv2d, ConvReLU2d
from minicnn.nn.dropout import Dropout
from minicnn.nn.fuse import fold_conv_bn, optimize_for_inference
from minicnn.nn.linear import Flatten, Identity, Linear
from minicnn.nn.loss import CrossEntropyLoss, MSELoss, NLLLoss
from minicnn.nn.module import IncompatibleKeys, Module, Parameter, StateDictError
from minicnn.nn.normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Module", "Parameter", "StateDictError", "IncompatibleKeys",
    "Sequential", "ModuleList", "ModuleDict",
    "Conv2d", "ConvReLU2d", "Linear", "Identity", "Flatten",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm",
    "Dropout",
    "optimize_for_inference", "fold_conv_bn",
    "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "MSELoss",
    "init",
]
