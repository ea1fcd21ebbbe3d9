"""Chapter 3, exercise 3: the three inner loops become one sum over the window."""
import numpy as np

import minicnn
import minicnn.functional as F


def out_size(H, K, S=1, P=0):
    return (H + 2 * P - K) // S + 1


def conv2d_forward_windows(x, weight, bias, stride=1, padding=0):
    """x: (N, C, H, W), weight: (OC, C, KH, KW), bias: (OC,) -> y: (N, OC, OH, OW)."""
    N, C, H, W = x.shape
    OC, _, KH, KW = weight.shape
    S, P = stride, padding
    OH, OW = out_size(H, KH, S, P), out_size(W, KW, S, P)
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    y = np.zeros((N, OC, OH, OW), dtype=x.dtype)
    for n in range(N):
        for o in range(OC):
            for oh in range(OH):
                for ow in range(OW):
                    window = x_pad[n, :, oh * S:oh * S + KH, ow * S:ow * S + KW]  # (C, KH, KW)
                    y[n, o, oh, ow] = bias[o] + np.sum(weight[o] * window)
    return y


rng = np.random.default_rng(0)
x, w, b = (rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)),
           rng.standard_normal(4))
ours = conv2d_forward_windows(x, w, b, stride=2, padding=1)
ref = F.conv2d(minicnn.Tensor(x), minicnn.Tensor(w), minicnn.Tensor(b), stride=2, padding=1)
print("max difference:", np.abs(ours - ref.data).max())
assert np.allclose(ours, ref.data, atol=1e-12)
