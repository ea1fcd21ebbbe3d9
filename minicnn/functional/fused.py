"""Fused ops: BatchNorm -> ReLU, add -> ReLU and conv -> ReLU as one node each.

    batch_norm_relu(x, ...) = relu(batch_norm(x, ...))
    add_relu(a, b)          = relu(a + b)
    conv2d_relu(x, ...)     = relu(conv2d(x, ...))   (nn.ConvReLU2d, inference)

Unfused, each pair writes the intermediate z (BN's output, or the sum) and
reads it again for the ReLU, and backward writes the masked gradient gz as a
full array before the first op's backward reads it. Fused, one node writes y
once and keeps y (as the ReLU did), whose sign is the ReLU's mask. Backward,
by the chain rule through y = max(z, 0):

    gz = gy * [y > 0]                      (y > 0 exactly where z > 0)
    batch_norm_relu:  gx, gweight, gbias = BatchNorm's backward of gz
    add_relu:         ga = gb = gz         (d(a + b)/da = d(a + b)/db = 1)

(conv2d_relu: gx, gweight, gbias = the convolution's backward of gz.)

The references below are that composition, kernel after kernel; the numba
kernels (``batch_norm_relu_forward/backward``, ``add_relu_forward``,
``conv2d_relu_forward``, in kernels/cpu/, installed as minicnn.kernels.cpu) do
each pass in one sweep, with the mask read on the fly (the im2col convolution
applies it in its output write; the direct and Winograd paths in one in-place
pass over y).
On CuPy data no fused kernel is registered, so the composition runs (the CUDA
BatchNorm and ReLU kernels one after the other).

The same fused nodes are what ``relu(z, inplace=True)`` turns a BatchNorm or an
add node into when z is its fresh output (``RELU_ABSORBERS`` below, used by
``minicnn.functional.activation.relu``): the zoo's ``self.relu(self.bn1(...))``
with ``nn.ReLU(inplace=True)`` records one BatchNormReLUFunction node.
"""
from __future__ import annotations

import weakref

from minicnn.autograd import as_tensor
from minicnn.backend import kernel
from minicnn.functional._geometry import contiguous
from minicnn.functional.activation import (
    RELU_ABSORBERS,
    relu_backward_reference,
    relu_inplace_reference,
)
from minicnn.functional.conv import Conv2dFunction, conv2d_forward_reference, prepare_conv2d
from minicnn.functional.normalization import (
    BatchNorm,
    BatchNormEval,
    batch_norm_backward_reference,
    batch_norm_call,
    batch_norm_forward_reference,
)
from minicnn.ops import Add

__all__ = [
    "batch_norm_relu", "add_relu", "conv2d_relu",
    "BatchNormReLUFunction", "BatchNormEvalReLUFunction", "AddReLUFunction",
    "Conv2dReLUFunction", "conv2d_relu_forward_reference",
    "batch_norm_relu_forward_reference", "batch_norm_relu_backward_reference",
    "add_relu_forward_reference",
]


def _absorb_relu(node, y) -> None:
    """``node`` (a BatchNorm, BatchNormEval or Add node whose output tensor ``y``
    was just overwritten by max(y, 0)) becomes its fused twin: it saves y's array,
    the mask for backward, and checks y's version from now on."""
    node.__class__ = RELU_ABSORBERS[type(node)]
    node.y = y.data
    node._saved_versions.append((weakref.ref(y), y._version))


# -------------------------------------------------------------- BatchNorm-ReLU
def batch_norm_relu_forward_reference(x3, weight, bias, eps):
    """Kernel ``batch_norm_relu_forward(x3, weight, bias, eps)``: BatchNorm's
    kernel, then ReLU's in place. x3 (N, C, L) -> (y3 (N, C, L), mean, var, inv_std)."""
    y3, mean, var, inv_std = kernel("batch_norm_forward", batch_norm_forward_reference,
                                    like=x3)(x3, weight, bias, eps)
    kernel("relu_inplace", relu_inplace_reference, like=y3)(y3)
    return y3, mean, var, inv_std


def batch_norm_relu_backward_reference(gy3, x3, y3, mean, inv_std, weight):
    """Kernel ``batch_norm_relu_backward(gy3, x3, y3, mean, inv_std, weight)``:
    gz3 = gy3 * (y3 > 0), then BatchNorm's backward of gz3.
    gy3, x3, y3 (N, C, L) -> (gx3 (N, C, L), gweight (C,), gbias (C,))."""
    gz3 = kernel("relu_backward", relu_backward_reference, like=gy3)(gy3, y3)
    return kernel("batch_norm_backward", batch_norm_backward_reference, like=gy3)(
        gz3, x3, mean, inv_std, weight)


class BatchNormReLUFunction(BatchNorm):
    """Training-mode BatchNorm then ReLU, one node: y = max(BN(x), 0).

    Saves what the unfused pair saves: BatchNorm's x, mean, inv_std, weight, and
    ReLU's y (the mask y > 0); what fusion spares is the intermediate BN output
    and the masked gradient, each a full array written and read once more.
    """

    def forward(self, x, *params):
        self.y = super().forward(x, *params)
        return self.y

    def _normalize(self, x3, weight, bias):
        return kernel("batch_norm_relu_forward", batch_norm_relu_forward_reference,
                      like=x3)(x3, weight, bias, self.eps)

    def _gradient(self, gy3, x3):
        return kernel("batch_norm_relu_backward", batch_norm_relu_backward_reference,
                      like=gy3)(gy3, x3, self.y.reshape(x3.shape), self.mean,
                                self.inv_std, self.weight)

    @staticmethod
    def can_absorb_relu(node) -> bool:
        return True

    absorb_relu = staticmethod(_absorb_relu)


class BatchNormEvalReLUFunction(BatchNormEval):
    """Eval-mode BatchNorm (fixed statistics) then ReLU, one node. The affine map
    has no numba kernel, so this is the composition: the map, then ReLU in place;
    backward masks gy with y > 0, then BatchNormEval's backward."""

    def forward(self, x, *params):
        y = super().forward(x, *params)
        self.y = kernel("relu_inplace", relu_inplace_reference, like=y)(y)
        return self.y

    def backward(self, gy):
        gz = kernel("relu_backward", relu_backward_reference, like=gy)(gy, self.y)
        return super().backward(gz)

    @staticmethod
    def can_absorb_relu(node) -> bool:
        return True

    absorb_relu = staticmethod(_absorb_relu)


def batch_norm_relu(x, running_mean, running_var, weight=None, bias=None, training=False,
                    momentum=0.1, eps=1e-5):
    """relu(batch_norm(x, ...)) as one node; the arguments and their meaning are
    ``batch_norm``'s (running statistics updated in place in training).

    x: (N, C), (N, C, L) or (N, C, H, W) -> y: x's shape, y >= 0.
    """
    return batch_norm_call("batch_norm_relu", BatchNormReLUFunction,
                           BatchNormEvalReLUFunction, x, running_mean, running_var,
                           weight, bias, training, momentum, eps)


# --------------------------------------------------------------------- add-ReLU
def add_relu_forward_reference(a, b):
    """Kernel ``add_relu_forward(a, b) -> y``: y = max(a + b, 0); a, b of one shape."""
    y = a + b
    return kernel("relu_inplace", relu_inplace_reference, like=y)(y)


class AddReLUFunction(Add):
    """y = max(a + b, 0) for a and b of one shape and dtype; both gradients are
    gy * (y > 0), ReLU's backward (one array, shared, as Add shares gy).
    Saves y only (Add saves the two shapes)."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        self.y = kernel("add_relu_forward", add_relu_forward_reference, like=a)(a, b)
        return self.y

    def backward(self, gy):
        g = kernel("relu_backward", relu_backward_reference, like=gy)(gy, self.y)
        return g, g

    @staticmethod
    def can_absorb_relu(node) -> bool:
        """Only an add without broadcasting: then both gradients are the masked gy."""
        return node.a_shape == node.b_shape

    absorb_relu = staticmethod(_absorb_relu)


def add_relu(a, b):
    """max(a + b, 0) as one node. a, b: Tensors of one shape and float dtype -> y: that shape."""
    a, b = as_tensor(a), as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"add_relu: a and b must have the same shape, got {a.shape} and "
                         f"{b.shape}; broadcast first, or use relu(a + b)")
    if a.dtype != b.dtype or a.dtype.kind != "f":
        raise TypeError(f"add_relu: a and b must have one floating-point dtype, got "
                        f"{a.dtype} and {b.dtype}; convert them with .to(dtype)")
    return AddReLUFunction()(a, b)


# ------------------------------------------------------------------ conv-ReLU
def conv2d_relu_forward_reference(x, weight, bias, SH, SW, PH, PW, DH, DW, groups):
    """Kernel ``conv2d_relu_forward``, conv2d_forward's arguments: the convolution's
    kernel, then ReLU's in place. -> y (N, OC, OH, OW), y >= 0."""
    y = kernel("conv2d_forward", conv2d_forward_reference, like=x)(
        x, weight, bias, SH, SW, PH, PW, DH, DW, groups)
    return kernel("relu_inplace", relu_inplace_reference, like=y)(y)


class Conv2dReLUFunction(Conv2dFunction):
    """y = max(conv2d(x, weight, bias), 0) as one node. Saves x, weight (as the
    convolution does) and y; backward masks gy with y > 0, then the
    convolution's backward."""

    def forward(self, x, weight, bias=None):
        self.x, self.weight = contiguous(x), contiguous(weight)
        self.has_bias = bias is not None
        bias = None if bias is None else contiguous(bias)
        self.y = kernel("conv2d_relu_forward", conv2d_relu_forward_reference, like=x)(
            self.x, self.weight, bias, *self.geometry)
        return self.y

    def backward(self, gy):
        gz = kernel("relu_backward", relu_backward_reference, like=gy)(gy, self.y)
        return super().backward(gz)


def conv2d_relu(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """relu(conv2d(x, weight, bias, ...)) as one node; the arguments and shapes are
    ``conv2d``'s: x (N, C, H, W) -> y (N, OC, OH, OW), y >= 0."""
    x, weight, bias, stride, padding, dilation, groups = prepare_conv2d(
        "conv2d_relu", x, weight, bias, stride, padding, dilation, groups)
    fn = Conv2dReLUFunction(stride, padding, dilation, groups)
    return fn(x, weight) if bias is None else fn(x, weight, bias)


RELU_ABSORBERS.update({
    BatchNorm: BatchNormReLUFunction,
    BatchNormEval: BatchNormEvalReLUFunction,
    Add: AddReLUFunction,
})
