"""The ``cuda`` backend's kernels, imported as ``minicnn.kernels.cuda``.

Importing this package registers, for the 'cuda' backend, every kernel of
the contract in kernels/README.md but conv2d_forward/backward: on CuPy data
those are the GEMM driver of minicnn/functional/conv.py, which calls the
im2col/col2im kernels below and cuBLAS.

    conv.py           im2col, col2im (conv2d is the shared driver of
                      minicnn/functional/conv.py, with cuBLAS GEMMs)
    pooling.py        max/avg_pool2d_forward/backward
    normalization.py  lrn_forward/backward, batch_norm_forward/backward
    activation.py     relu_forward/backward
    dropout.py        dropout_forward
    loss.py           softmax_cross_entropy_forward/backward
    sgd.py            sgd_step

Each wrapper allocates its outputs with the data's array module and launches
one kernel written twice: CUDA C (the *.cu files, compiled by CuPy) and
Numba CUDA (numba_kernels.py). On CuPy data the CUDA C twin runs, or the
Numba one after ``set_kernel_source('numba')``; on NumPy data the Numba twin
runs (under Numba's CUDA simulator in the tests). Neither CuPy nor Numba is
imported before a kernel is launched.
"""
from minicnn.kernels.cuda import activation, conv, dropout, loss, normalization, pooling, sgd
from minicnn.kernels.cuda.launch import get_kernel_source, set_kernel_source

__all__ = [
    "activation", "conv", "dropout", "loss", "normalization", "pooling", "sgd",
    "set_kernel_source", "get_kernel_source",
]
