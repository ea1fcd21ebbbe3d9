"""Chapter 8, exercise 2: a grid-stride loop turns flat indices back into (oh, ow)."""
import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # before numba.cuda; delete on a GPU

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

OH, OW = 5, 7


@cuda.jit
def fill_coordinates(out, OH, OW):
    """out: flat (OH*OW,); out[t] = oh * 100 + ow for the pixel t stands for."""
    for t in range(cuda.grid(1), OH * OW, cuda.gridsize(1)):
        ow = t % OW
        oh = t // OW
        out[t] = oh * 100 + ow


out = np.full(OH * OW, -1, dtype=np.int64)
fill_coordinates[2, 8](out, OH, OW)            # 2 blocks x 8 threads = 16 threads
expected = np.add.outer(100 * np.arange(OH), np.arange(OW))   # (OH, OW)
print(out.reshape(OH, OW))
assert np.array_equal(out.reshape(OH, OW), expected)
