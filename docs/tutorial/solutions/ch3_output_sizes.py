"""Chapter 3, exercise 1: which (stride, padding) take a 32-pixel input to 16 with K = 3?"""
import numpy as np

import minicnn
import minicnn.functional as F


def out_size(H, K, S=1, P=0, D=1):
    return (H + 2 * P - D * (K - 1) - 1) // S + 1


pairs = [(S, P) for S in range(1, 5) for P in range(0, 3) if out_size(32, 3, S, P) == 16]
print("(S, P) with OH = 16:", pairs)
assert pairs == [(2, 1)]
assert out_size(32, 3, 2, 0) == 15
x = minicnn.Tensor(np.zeros((1, 1, 32, 32)))
w = minicnn.Tensor(np.zeros((1, 1, 3, 3)))
for S, P in pairs + [(2, 0)]:
    shape = F.conv2d(x, w, stride=S, padding=P).shape
    print(f"S={S} P={P}: F.conv2d gives {shape}")
    assert shape[2:] == (out_size(32, 3, S, P),) * 2
