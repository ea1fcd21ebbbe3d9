"""Fast kernels (Numba CPU, CUDA), imported as ``minicnn.kernels`` ."""
