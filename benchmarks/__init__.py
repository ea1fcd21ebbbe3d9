"""minicnn's benchmark harness (``minicnn.bench``; the folder benchmarks/ in the repo).

Per op (conv2d on real layer shapes, pooling, LRN, BatchNorm, linear, softmax-CE)
and per model (LeNet-5 ... ResNet-50), every minicnn backend present beside
PyTorch in the same process, with honest timing (warm-up, median, IQR, GPU
synchronisation, equal thread counts) and a scaling study. See README.md here.
"""
from minicnn.bench.cli import main, run

__all__ = ["main", "run"]
