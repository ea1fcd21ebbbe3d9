"""minicnn.functional: the ops of a CNN on Tensors, PyTorch's names and semantics.

    import minicnn.functional as F
    y = F.conv2d(x, weight, bias, stride=1, padding=1)   # (N, C, H, W) -> (N, OC, H, W)
    y = F.max_pool2d(y, kernel_size=3, stride=2)

Families, one file each: conv (conv2d, im2col, col2im), conv_naive (conv2d_naive,
the seven-loop definition the others are tested against), conv_winograd
(conv2d_winograd, 3x3 stride-1 layers by Winograd's transforms), pooling,
normalization (batch_norm, local_response_norm), activation (relu, relu_, leaky_relu,
tanh, sigmoid, softmax, log_softmax), fused (batch_norm_relu, add_relu, conv2d_relu:
two ops as one node, one pass each way), dropout, loss (cross_entropy, nll_loss, mse_loss),
linear, shape (flatten, cat, pad).

One file per op family; each op is a Function class (forward and backward side
by side) with a lowercase wrapper that validates its arguments.

Which code runs: every op's hot loops go through ``minicnn.backend.kernel``.
With Numba installed, the default backend runs them from ``minicnn.kernels.cpu``
(CUDA kernels on GPU arrays), so a print or an edit in the NumPy references of
these modules changes nothing. To run the references, the code a student reads,
wrap the calls in ``with minicnn.use_backend("numpy"):``; ``minicnn info`` says
which code runs each loop. (``conv2d_naive`` and ``conv2d_winograd`` have no
fast kernel of their own: they always run as written; the numba Winograd
kernels are one of ``conv2d``'s paths.)
"""
from minicnn.functional.activation import (
    leaky_relu,
    log_softmax,
    relu,
    relu_,
    sigmoid,
    softmax,
    tanh,
)
from minicnn.functional.conv import col2im, conv2d, im2col
from minicnn.functional.conv_naive import conv2d_naive
from minicnn.functional.conv_winograd import conv2d_winograd
from minicnn.functional.dropout import dropout
from minicnn.functional.fused import add_relu, batch_norm_relu, conv2d_relu
from minicnn.functional.linear import linear
from minicnn.functional.loss import cross_entropy, mse_loss, nll_loss
from minicnn.functional.normalization import alexnet_lrn_args, batch_norm, local_response_norm
from minicnn.functional.pooling import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    max_pool2d,
)
from minicnn.functional.shape import cat, flatten, pad

__all__ = [
    "conv2d", "im2col", "col2im", "conv2d_naive", "conv2d_winograd",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "batch_norm", "local_response_norm", "alexnet_lrn_args",
    "batch_norm_relu", "add_relu", "conv2d_relu",
    "relu", "relu_", "leaky_relu", "tanh", "sigmoid", "softmax", "log_softmax",
    "dropout", "cross_entropy", "nll_loss", "mse_loss", "linear",
    "flatten", "cat", "pad",
]
