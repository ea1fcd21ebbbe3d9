"""minicnn: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU).

    import minicnn
    import minicnn.functional as F
    from minicnn import nn, optim

    x = minicnn.Tensor(images)               # (N, C, H, W) float32
    loss = F.cross_entropy(model(x), labels)
    loss.backward()                          # fills p.grad for every parameter
    optimizer.step()
"""
from minicnn import (
    functional,
    nn,
    ops,  # noqa: F401  (importing it attaches Tensor's operators)
    optim,
)
from minicnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad
from minicnn.backend import (
    BackendUnavailableError,
    get_array_module,
    get_backend,
    get_workspace,
    set_backend,
    set_workspace,
    use_backend,
)
from minicnn.gradient_check import (
    GradcheckError,
    GradcheckResult,
    gradcheck,
    gradcheck_graph,
    numerical_grad,
)
from minicnn.nn.fuse import optimize_for_inference
from minicnn.rng import manual_seed
from minicnn.runtime.malloc import retain_freed_memory
from minicnn.serialization import load, save
from minicnn.tools.graph import draw_graph
from minicnn.tools.info import info
from minicnn.tools.profile import profile
from minicnn.tools.summary import summary
from minicnn.version import __version__

__all__ = [
    "Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled",
    "set_backend", "get_backend", "use_backend", "get_array_module", "BackendUnavailableError",
    "set_workspace", "get_workspace", "manual_seed", "save", "load", "info", "summary",
    "draw_graph", "optimize_for_inference", "profile",
    "numerical_grad", "gradcheck", "GradcheckError", "GradcheckResult", "gradcheck_graph",
    "functional", "nn", "optim",
    "retain_freed_memory", "__version__",
]
