"""minicnn: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU).

    import minicnn
    import minicnn.functional as F
    from minicnn import nn, optim

    x = minicnn.Tensor(images)               # (N, C, H, W) float32
    loss = F.cross_entropy(model(x), labels)
    loss.backward()                          # fills p.grad for every parameter
    optimizer.step()
"""
from minicnn import functional, nn, optim
from minicnn.autograd import enable_grad, is_grad_enabled, no_grad
from minicnn.backend import (
    BackendUnavailableError,
    backend,
    get_array_module,
    get_backend,
    get_workspace,
    set_backend,
    set_workspace,
)
from minicnn.gradcheck import GradcheckError, gradcheck, numerical_grad
from minicnn.info import info
from minicnn.malloc import retain_freed_memory
from minicnn.random import manual_seed
from minicnn.serialization import load, save
from minicnn.summary import summary
from minicnn.tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "set_backend", "get_backend", "backend", "get_array_module", "BackendUnavailableError",
    "set_workspace", "get_workspace", "manual_seed", "save", "load", "info", "summary",
    "numerical_grad", "gradcheck", "GradcheckError", "functional", "nn", "optim",
    "retain_freed_memory", "__version__",
]
