"""Start-up time of the numba backend, cold and cached.

Numba compiles each kernel the first time it runs; ``cache=True`` stores the
machine code beside the source, so the next process loads it instead. This
runs the same small script (import minicnn, one LeNet-5 training step on the
numba backend) twice in fresh processes: the first run may compile, the second
must find everything cached (the target: under 3 s).
"""
from __future__ import annotations

import subprocess
import sys
import time

__all__ = ["SCRIPT", "measure_startup"]

SCRIPT = """
import numpy
import minicnn
import minicnn.functional as F
from minicnn import optim, zoo
minicnn.set_backend("numba")
model = zoo.lenet5(variant="modern")
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = minicnn.Tensor(numpy.zeros((8, 1, 28, 28), dtype=numpy.float32))
loss = F.cross_entropy(model(x), numpy.zeros(8, dtype=numpy.int64))
loss.backward()
opt.step()
"""


def _run_once() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True)
    return time.perf_counter() - start


def measure_startup() -> dict:
    """Seconds for the first and the second fresh process (the second is cached)."""
    first = _run_once()
    second = _run_once()
    return {"first_s": first, "second_s": second}
