"""Chapter 7, exercise 3: in y = x + F(x), the + hands the same gradient to both paths."""
import numpy as np

import minicnn
import minicnn.functional as F
from minicnn import nn

minicnn.manual_seed(0)
conv = nn.Conv2d(4, 4, 3, padding=1)
x = minicnn.Tensor(np.random.default_rng(0).standard_normal((2, 4, 5, 5)), requires_grad=True)
conv = conv.double()
seen = {}
x.register_hook(lambda g: seen.__setitem__("x", g))     # the total gradient of x
fx = F.relu(conv(x))                                    # F(x): (2, 4, 5, 5)
fx.register_hook(lambda g: seen.__setitem__("F(x)", g))
skip = x * 1.0                                          # the identity path, as its own node
skip.register_hook(lambda g: seen.__setitem__("skip", g))
y = skip + fx
y.sum().backward()
for name, g in seen.items():
    print(f"{name:5s} gradient: mean {g.mean():.3f}, shape {g.shape}")
assert np.array_equal(seen["skip"], np.ones(y.shape))
assert np.array_equal(seen["F(x)"], np.ones(y.shape))
# x gets the skip's ones plus what flows back through the convolution.
assert not np.allclose(seen["x"], 1.0)
