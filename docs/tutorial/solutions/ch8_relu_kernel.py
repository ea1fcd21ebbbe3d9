"""Chapter 8, exercise 3: ReLU as a grid-stride CUDA kernel, checked against F.relu."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # before numba.cuda; delete on a GPU

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

import minicnn  # noqa: E402
import minicnn.functional as F  # noqa: E402


@cuda.jit
def relu_forward(x, y):
    """x, y: flat arrays of one size; y = max(x, 0), one element per loop turn."""
    for t in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[t] = x[t] if x[t] > 0 else 0


x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
y = np.empty_like(x)
relu_forward[2, 8](x.reshape(-1), y.reshape(-1))     # (2, 3, 4, 4) -> (96,) views
assert np.array_equal(y, F.relu(minicnn.Tensor(x)).data)
print("grid-stride ReLU matches F.relu on", x.shape)
