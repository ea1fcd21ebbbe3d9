"""Activations: relu, leaky_relu, tanh, sigmoid, softmax, log_softmax.

All are elementwise (softmax and log_softmax along one axis ``dim``), so
every output has the input's shape. Each op is a Function whose backward
reuses what forward saved:

    relu(x)        = max(x, 0)                     dy/dx = [y > 0]
    leaky_relu(x)  = x if x > 0 else s*x           dy/dx = 1 if x > 0 else s
    tanh(x)                                        dy/dx = 1 - y^2
    sigmoid(x)     = 1 / (1 + e^-x)                dy/dx = y (1 - y)
    softmax(x)_i   = e^(x_i - m) / sum_j e^(x_j - m),  m = max_j x_j
    log_softmax(x)_i = x_i - m - log sum_j e^(x_j - m)

Subtracting the maximum m changes nothing mathematically (it cancels) but
keeps every exponent <= 0, so e^(...) never overflows for huge logits.

ReLU's two loops go through ``minicnn.backend.kernel('relu_forward', ...)``
and ``kernel('relu_backward', ...)``: ``relu_forward_reference`` and
``relu_backward_reference`` below are the plain references.

``relu(x, inplace=True)`` (and ``relu_(x)``) overwrite x, as PyTorch's: x's
version is bumped, so the backward of an op that saved x fails with the
in-place error, and a leaf that requires grad refuses. When x is the fresh
output of a node that can absorb the ReLU (BatchNorm, an add of two tensors of
one shape: ``RELU_ABSORBERS``, filled by ``minicnn/functional/fused.py``), no
ReLU node is recorded: that node becomes its fused twin (BatchNormReLUFunction,
AddReLUFunction), whose backward applies the mask y > 0 and its own backward
in one pass. See ``relu`` for when that is safe.

Which code runs: the fast kernels by default, these references inside
``with minicnn.use_backend("numpy"):`` (see ``minicnn.functional``).
"""
from __future__ import annotations

import numbers

from minicnn.autograd import Function, as_tensor, is_grad_enabled
from minicnn.backend import get_array_module, kernel

__all__ = [
    "relu", "relu_", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax",
    "ReLUFunction", "LeakyReLUFunction", "TanhFunction", "SigmoidFunction",
    "SoftmaxFunction", "LogSoftmaxFunction",
    "relu_forward_reference", "relu_backward_reference", "relu_inplace_reference",
    "RELU_ABSORBERS",
]


def _check_float(op, x):
    """``x`` as a Tensor; activations are defined on floating-point data only."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype} "
                        f"(shape {x.shape}); convert it with .to('float32')")
    return x


def _softmax_dim(op, x, dim):
    """The axis of softmax/log_softmax; ``dim=None`` is PyTorch's legacy choice."""
    if x.ndim == 0:
        raise ValueError(f"{op}: expected a tensor with at least 1 dimension, got a "
                         "0-D tensor (a single number)")
    if dim is None:
        # PyTorch's deprecated implicit dim: 0 for 0-D, 1-D and 3-D input, else 1.
        return 0 if x.ndim in (0, 1, 3) else 1
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    ndim = x.ndim
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor of shape "
                         f"{x.shape} (expected -{ndim} <= dim < {ndim})")
    return int(dim) % ndim


# ------------------------------------------------------------------------ ReLU
def relu_forward_reference(x):
    """Kernel ``relu_forward(x) -> y``: y = max(x, 0)."""
    xp = get_array_module(x)
    return xp.maximum(x, 0).astype(x.dtype, copy=False)


def relu_backward_reference(gy, y):
    """Kernel ``relu_backward(gy, y) -> gx``: gx = gy where y > 0, else 0."""
    return (gy * (y > 0)).astype(gy.dtype, copy=False)


def relu_inplace_reference(x):
    """Kernel ``relu_inplace(x) -> x``: x = max(x, 0), written into x itself."""
    get_array_module(x).maximum(x, 0, out=x)
    return x


class ReLUFunction(Function):
    """y = max(x, 0); with ``in_place`` forward writes y into x's array and the
    call returns x itself (``Function.in_place``). Saved for backward: y."""

    def __init__(self, in_place=False):
        self.in_place = in_place

    def forward(self, x):
        if self.in_place:
            self.y = kernel("relu_inplace", relu_inplace_reference, like=x)(x)
        else:
            self.y = kernel("relu_forward", relu_forward_reference, like=x)(x)
        return self.y

    def backward(self, gy):
        # y = max(x, 0): slope 1 where x > 0 (exactly where y > 0), 0 elsewhere;
        # at x = 0 we take 0, as PyTorch does.
        return kernel("relu_backward", relu_backward_reference, like=gy)(gy, self.y)


# type of a node -> its fused twin that also applies ReLU to its output, for
# relu(x, inplace=True) on that node's output. Filled by minicnn/functional/fused.py:
# BatchNorm, BatchNormEval, Add (each twin has ``can_absorb_relu(node)``).
RELU_ABSORBERS: dict = {}


def _absorbing_node(x):
    """The node whose output x is, when it can take in a ReLU applied to x in place
    (else None): the graph is recorded, x is its only output, x has no hooks and
    no retained grad, no other recorded op has read x yet, and the node's fused
    twin accepts it (``can_absorb_relu``)."""
    node = x.grad_fn
    if node is None or not is_grad_enabled():
        return None
    fused = RELU_ABSORBERS.get(type(node))
    if fused is None or node.released or len(node.outputs) != 1:
        return None
    if node.outputs[0]() is not x or x._hooks or x._retains_grad:
        return None
    if any(ref() is not None for ref in x._readers):
        return None
    return node if fused.can_absorb_relu(node) else None


def relu(x, inplace=False):
    """max(x, 0) elementwise. x: any shape -> y: the same shape.

    ``inplace=True`` writes the result into x and returns x, as PyTorch does:
    x's version is bumped (an op that saved x fails in backward), and a leaf
    that requires grad is refused while the graph is recorded. An op that read
    x before keeps the value it saw, and its gradient still reaches x's old
    producer (``autograd._hand_over_history``).

    When x is the fresh output of a BatchNorm or of an add of two same-shape
    tensors, nothing else has read it, and it has no hook or retained grad, the
    ReLU is absorbed into that node instead of recorded after it: the node
    becomes BatchNormReLUFunction / AddReLUFunction (one node in
    ``minicnn.draw_graph``), and its backward masks the gradient with y > 0 in
    the same pass. This is safe because those nodes never saved their output:
    BatchNorm keeps x, mean and inv_std (eval mode: xhat and the scale), add
    only shapes; the fused backward reads the mask from the overwritten x.
    Under ``no_grad`` it is a plain in-place pass, no allocation.
    """
    x = _check_float("relu", x)
    if not isinstance(inplace, bool):
        raise TypeError(f"relu: inplace must be True or False, got {inplace!r}")
    if not inplace:
        return ReLUFunction()(x)
    x._check_in_place("relu_")
    node = _absorbing_node(x)
    if node is None:
        return ReLUFunction(in_place=True)(x)
    kernel("relu_inplace", relu_inplace_reference, like=x.data)(x.data)
    x._bump_version()
    RELU_ABSORBERS[type(node)].absorb_relu(node, x)
    return x


def relu_(x):
    """``relu(x, inplace=True)``: x = max(x, 0) in place; returns x."""
    return relu(x, inplace=True)


# ------------------------------------------------------------------ LeakyReLU
class LeakyReLUFunction(Function):
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        xp = get_array_module(x)
        self.positive = x > 0
        return xp.where(self.positive, x, x * self.negative_slope).astype(
            x.dtype, copy=False)

    def backward(self, gy):
        # dy/dx = 1 for x > 0, negative_slope for x <= 0 (PyTorch's choice at 0)
        xp = get_array_module(gy)
        return xp.where(self.positive, gy, gy * self.negative_slope).astype(
            gy.dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise. x: any shape -> the same shape."""
    x = _check_float("leaky_relu", x)
    if not isinstance(negative_slope, numbers.Real) or isinstance(negative_slope, bool):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got "
                        f"{negative_slope!r}")
    return LeakyReLUFunction(float(negative_slope))(x)


# ----------------------------------------------------------------------- Tanh
class TanhFunction(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)      # d tanh(x)/dx = 1 - tanh(x)^2


def tanh(x):
    """Hyperbolic tangent elementwise. x: any shape -> the same shape."""
    return TanhFunction()(_check_float("tanh", x))


# -------------------------------------------------------------------- Sigmoid
class SigmoidFunction(Function):
    def forward(self, x):
        # 1 / (1 + e^-x) overflows e^-x for very negative x; with e = e^-|x| <= 1
        # both branches stay finite:  x >= 0: 1 / (1 + e);  x < 0: e / (1 + e).
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)      # d sigma/dx = sigma (1 - sigma)


def sigmoid(x):
    """The logistic function 1 / (1 + e^-x), computed without overflow."""
    return SigmoidFunction()(_check_float("sigmoid", x))


# -------------------------------------------------------------------- Softmax
class SoftmaxFunction(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = get_array_module(x)
        z = x - x.max(axis=self.dim, keepdims=True)     # every exponent <= 0
        e = xp.exp(z)
        self.y = e / e.sum(axis=self.dim, keepdims=True)
        return self.y

    def backward(self, gy):
        # dy_i/dx_j = y_i ([i = j] - y_j), so
        # gx_j = sum_i gy_i y_i ([i = j] - y_j) = y_j (gy_j - sum_i gy_i y_i)
        y = self.y
        return y * (gy - (gy * y).sum(axis=self.dim, keepdims=True))


def softmax(x, dim=None):
    """e^x / sum e^x along ``dim`` (the max is subtracted first, for stability).

    x: any shape -> the same shape, every slice along ``dim`` sums to 1.
    ``dim=None`` follows PyTorch's deprecated implicit choice (1, or 0 for
    0-D, 1-D and 3-D input); pass ``dim`` explicitly.
    """
    x = _check_float("softmax", x)
    return SoftmaxFunction(_softmax_dim("softmax", x, dim))(x)


class LogSoftmaxFunction(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = get_array_module(x)
        z = x - x.max(axis=self.dim, keepdims=True)     # every exponent <= 0
        self.y = z - xp.log(xp.exp(z).sum(axis=self.dim, keepdims=True))
        return self.y

    def backward(self, gy):
        # y_i = x_i - log sum_j e^x_j  =>  dy_i/dx_j = [i = j] - softmax_j, so
        # gx_j = gy_j - softmax_j * sum_i gy_i, with softmax = e^y.
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.dim, keepdims=True)


def log_softmax(x, dim=None):
    """log(softmax(x)) along ``dim``, computed as x - max - log sum e^(x - max).

    Finite even for logits like 1e4, where softmax underflows to 0 and its log
    would be -inf. x: any shape -> the same shape.
    """
    x = _check_float("log_softmax", x)
    return LogSoftmaxFunction(_softmax_dim("log_softmax", x, dim))(x)
