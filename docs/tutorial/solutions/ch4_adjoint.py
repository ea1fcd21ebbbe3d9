"""Chapter 4, exercise 2: col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>."""
import numpy as np

import minicnn
import minicnn.functional as F

rng = np.random.default_rng(0)
for K, S, P in [(3, 1, 0), (3, 2, 1), (2, 2, 0), (5, 1, 2)]:
    x = rng.standard_normal((2, 3, 7, 7))
    cols = F.im2col(minicnn.Tensor(x), K, padding=P, stride=S).data
    c = rng.standard_normal(cols.shape)
    back = F.col2im(minicnn.Tensor(c), (7, 7), K, padding=P, stride=S).data
    left, right = float((cols * c).sum()), float((x * back).sum())
    print(f"K={K} S={S} P={P}: <im2col(x), c> = {left:.10f}   <x, col2im(c)> = {right:.10f}")
    assert abs(left - right) < 1e-10 * max(1.0, abs(left))
