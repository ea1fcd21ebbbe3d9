"""Chapter 4, exercise 3: a 1x1, stride-1, unpadded convolution's columns are the input."""
import numpy as np

import minicnn
import minicnn.functional as F

N, C, H, W = 2, 5, 4, 6
x = np.random.default_rng(0).standard_normal((N, C, H, W))
cols = F.im2col(minicnn.Tensor(x), kernel_size=1).data          # (N, C*1*1, H*W)
assert np.array_equal(cols, x.reshape(N, C, H * W))             # (N, C, H, W) -> (N, C, H*W)
weight = np.random.default_rng(1).standard_normal((3, C, 1, 1))
y = (weight.reshape(3, C) @ x.reshape(N, C, H * W)).reshape(N, 3, H, W)
assert np.allclose(y, F.conv2d(minicnn.Tensor(x), minicnn.Tensor(weight)).data)
print("1x1 convolution = one GEMM on the input itself:", y.shape)
