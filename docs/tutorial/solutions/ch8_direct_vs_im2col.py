"""Chapter 8, exercise 1: direct convolution against im2col as the channels grow.

Prints timings (they depend on the machine) and what the automatic switch
picks; asserts only that both paths agree, never a speed.
"""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn.bench.timing import measure
from minicnn.kernels.cpu.conv import conv_algorithm
from minicnn.kernels.cpu.direct_conv import direct_conv_pays

N, H, W, K, P = 8, 14, 14, 5, 2
rng = np.random.default_rng(0)


def forward_backward(x, w):
    xt, wt = minicnn.Tensor(x, requires_grad=True), minicnn.Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding=P)
    y.backward(np.ones(y.shape, dtype=np.float32))
    return y.data, xt.grad, wt.grad


print(f"{'channels':>8s} {'im2col ms':>10s} {'direct ms':>10s}  switch picks")
for channels in (16, 64, 128):
    x = rng.standard_normal((N, channels, H, W)).astype(np.float32)
    w = (rng.standard_normal((channels, channels, K, K)) / channels).astype(np.float32)
    out, ms = {}, {}
    with minicnn.use_backend("numba"):
        for algorithm in ("im2col", "direct"):
            with conv_algorithm(algorithm):
                out[algorithm] = forward_backward(x, w)
                t = measure(lambda: forward_backward(x, w), warmup=1, repeat=3)
                ms[algorithm] = t.median * 1e3
    for a, b in zip(out["im2col"], out["direct"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-2)
    pays = direct_conv_pays(channels, channels, W, K, K, 1, 1, P, P, 1, 1, 1)
    print(f"{channels:8d} {ms['im2col']:10.2f} {ms['direct']:10.2f}  "
          f"{'direct' if pays else 'im2col'}")
