"""Chapter 5, exercise 1: average pooling is a depthwise convolution with 1/4 weights."""
import numpy as np

import minicnn
import minicnn.functional as F

rng = np.random.default_rng(0)
N, C, H, W = 2, 3, 6, 6
x_pool = minicnn.Tensor(rng.standard_normal((N, C, H, W)), requires_grad=True)
x_conv = minicnn.Tensor(x_pool.data.copy(), requires_grad=True)

y_pool = F.avg_pool2d(x_pool, 2)                              # (N, C, 3, 3)
weight = minicnn.Tensor(np.full((C, 1, 2, 2), 0.25))          # (OC=C, C/groups=1, KH, KW)
y_conv = F.conv2d(x_conv, weight, stride=2, groups=C)         # (N, C, 3, 3)

gy = rng.standard_normal(y_pool.shape)
y_pool.backward(gy)
y_conv.backward(gy)

print("max |forward difference|: ", np.abs(y_pool.data - y_conv.data).max())
print("max |gradient difference|:", np.abs(x_pool.grad - x_conv.grad).max())
assert np.allclose(y_pool.data, y_conv.data, atol=1e-14)
assert np.allclose(x_pool.grad, x_conv.grad, atol=1e-14)
