"""Chapter 3, exercise 2: a strided 1x1 convolution never reads odd rows and columns."""
import numpy as np

import minicnn
import minicnn.functional as F

rng = np.random.default_rng(0)
x = minicnn.Tensor(rng.standard_normal((1, 2, 6, 6)), requires_grad=True)
w = minicnn.Tensor(rng.standard_normal((3, 2, 1, 1)))
y = F.conv2d(x, w, stride=2)                       # (1, 3, 3, 3)
y.backward(rng.standard_normal(y.shape))
never_read = np.ones((6, 6), dtype=bool)
never_read[::2, ::2] = False                       # pixels (even, even) are read
print((x.grad[0, 0] != 0).astype(int))
assert np.all(x.grad[:, :, never_read] == 0)
assert np.all(x.grad[:, :, ~never_read] != 0)
