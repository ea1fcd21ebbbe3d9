"""Chapter 5, exercise 3: inverted dropout keeps the mean and zeroes a fraction p."""
import numpy as np

import minicnn
import minicnn.functional as F

minicnn.manual_seed(0)
ones = minicnn.Tensor(np.ones(100000, dtype=np.float32))
for p in (0.1, 0.5, 0.9):
    y = F.dropout(ones, p=p, training=True).data
    mean, zeros = float(y.mean()), float((y == 0).mean())
    print(f"p={p}: mean {mean:.4f}, fraction of zeros {zeros:.4f}")
    assert abs(mean - 1) < 0.02
    assert abs(zeros - p) < 0.01
