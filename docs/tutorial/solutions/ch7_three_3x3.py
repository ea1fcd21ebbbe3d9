"""Chapter 7, exercise 1: three stacked 3x3 convolutions see 7x7, with 27 C^2 weights."""
import numpy as np

import minicnn
from minicnn import nn

C, SIZE = 4, 11
rng = np.random.default_rng(0)


def receptive_field(net):
    """1 where an input pixel gets gradient from the centre output pixel: (SIZE, SIZE)."""
    x = minicnn.Tensor(rng.standard_normal((1, C, SIZE, SIZE)).astype(np.float32),
                       requires_grad=True)
    y = net(x)
    gy = np.zeros(y.shape, dtype=np.float32)
    gy[0, 0, SIZE // 2, SIZE // 2] = 1.0
    y.backward(gy)
    return (np.abs(x.grad[0]).sum(0) > 0).astype(int)


minicnn.manual_seed(0)
# No ReLUs between the layers: with few channels a dead ReLU could hide a pixel of
# the field, and the field is a property of the convolutions alone.
three = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False),
                      nn.Conv2d(C, C, 3, padding=1, bias=False),
                      nn.Conv2d(C, C, 3, padding=1, bias=False))
seven = nn.Conv2d(C, C, 7, padding=3, bias=False)
field = receptive_field(three)
print(field)
rows, cols = np.nonzero(field)
assert field.sum() == 49 and np.ptp(rows) == 6 and np.ptp(cols) == 6
assert np.array_equal(field, receptive_field(seven))
n3 = sum(p.size for p in three.parameters())
n7 = sum(p.size for p in seven.parameters())
print(f"parameters: three 3x3 = {n3} = 27 C^2, one 7x7 = {n7} = 49 C^2")
assert n3 == 27 * C * C and n7 == 49 * C * C
