"""Chapter 4, exercise 1: im2col with two loops over the output pixels."""
import numpy as np

import minicnn
import minicnn.functional as F


def im2col_loops(x, K):
    """x: (N, C, H, W), stride 1, no padding -> cols: (N, C*K*K, OH*OW)."""
    N, C, H, W = x.shape
    OH, OW = H - K + 1, W - K + 1
    cols = np.empty((N, C * K * K, OH * OW), dtype=x.dtype)
    for oh in range(OH):
        for ow in range(OW):
            window = x[:, :, oh:oh + K, ow:ow + K]                 # (N, C, K, K)
            cols[:, :, oh * OW + ow] = window.reshape(N, C * K * K)  # row c*K*K + i*K + j
    return cols


x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
ours = im2col_loops(x, 3)
ref = F.im2col(minicnn.Tensor(x), kernel_size=3).data
print("cols", ours.shape, "identical:", np.array_equal(ours, ref))
assert np.array_equal(ours, ref)
