"""Numba CPU kernels (``minicnn.kernels.cpu``), the fast paths of the numba backend.

Importing this package registers every kernel with
``minicnn.backend.register_kernel('numba', name)``; it needs numba installed
(``minicnn.set_backend('numba')`` checks that first). Each module sits beside
the NumPy reference it replaces:

    im2col.py       im2col, col2im (a gather)        minicnn/functional/conv.py
    conv.py         conv2d_forward/backward (GEMM),  minicnn/functional/conv.py
                    conv2d_relu_forward              minicnn/functional/fused.py
    pooling.py      max/avg pool forward/backward    minicnn/functional/pooling.py
    lrn.py          lrn_forward/backward             minicnn/functional/normalization.py
    batchnorm.py    batch_norm_forward/backward,     minicnn/functional/normalization.py
                    batch_norm_relu_forward/backward minicnn/functional/fused.py
    elementwise.py  relu, relu_inplace, add_relu,    minicnn/functional/activation.py,
                    dropout                          fused.py, dropout.py
    loss.py         softmax-cross-entropy            minicnn/functional/loss.py
    sgd.py          sgd_step                         minicnn/optim/sgd.py
"""
from . import batchnorm, conv, elementwise, im2col, loss, lrn, pooling, sgd

__all__ = ["batchnorm", "conv", "elementwise", "im2col", "loss", "lrn", "pooling", "sgd"]
