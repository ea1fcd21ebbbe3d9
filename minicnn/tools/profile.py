"""Where a training step's time and memory go: one row per op, a Chrome trace.

    import minicnn
    with minicnn.profile() as prof:
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
    print(prof.table())                  # op, algorithm, count, forward/backward ms, %,
                                         # GFLOP/s, % of sgemm peak, saved
    prof.chrome_trace("step.json")       # open in https://ui.perfetto.dev or chrome://tracing
    prof.memory()                        # bytes held for backward: peak, and by op

Every Function call inside the block is timed (``time.perf_counter`` around
``Function.__call__``), and so is every backward of the nodes those calls
recorded; both through ``minicnn.tools.graph.wrap_functions``, the instrument
``trace_graph`` uses too. The op is the Function class's name
(``Conv2dFunction``, ``ReLUFunction``, ``Add``...).

Bytes saved for backward are the arrays a node keeps as attributes
(``graph.saved_bytes``), counted right after its forward. The memory ledger
adds them when a node is recorded and takes them away when its backward has
run (the engine frees a node's buffers then, unless ``retain_graph=True``), so
``memory()['peak_bytes']`` is the most the graph held at once: at the end of
the forward pass for an ordinary step.

GFLOP/s is given for ``Conv2dFunction`` and ``LinearFunction`` only, whose
FLOPs follow from the input shapes (``minicnn.bench.flops``; backward counts
2x forward); the other ops are memory bound and show "-". "% peak" divides
that rate by NumPy's measured float32 GEMM rate on this machine
(``minicnn.bench.environment.sgemm_peak``: a 1024 x 1024 matmul, timed once
per process when a table first needs it, with the thread counts in force
then): how close a convolution gets to what the BLAS can do.

A convolution's row is split by the path that computed it (the "algorithm"
column), as ``minicnn.kernels.cpu.conv.choose_algorithm`` decides it for the
numba backend: ``im2col``, ``direct``, ``winograd`` where that path exists, or
``gemm 1x1`` for a pointwise layer (its columns are the image itself). Under
the reference backend the path is ``reference``, on CuPy data ``cuda``.
Other ops show "-". Times are wall
clock, on the GPU too: a CuPy kernel runs asynchronously, so there a slice
shows the launch, not the kernel, unless the op synchronises.

The profiler's own cost is some microseconds per call (clock reads, counting the
saved arrays, an event appended: about 10 us on one CPU core here);
``minicnn profile`` measures it on a real step.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import defaultdict

import numpy

from minicnn.backend import kernel_owner
from minicnn.bench.environment import sgemm_peak
from minicnn.bench.flops import backward_factor, conv2d_flops, linear_flops
from minicnn.functional._geometry import is_pointwise
from minicnn.runtime.fileio import atomic_write
from minicnn.tools.graph import _human, saved_bytes, wrap_functions

__all__ = ["profile", "Profile", "OpEvent"]

# the ops whose FLOPs minicnn.bench.flops counts: class name -> its name there
# (Conv2dReLUFunction, the inference-mode conv with its ReLU, counts as a conv)
_FLOP_OPS = {"Conv2dFunction": "conv2d", "Conv2dReLUFunction": "conv2d",
             "LinearFunction": "linear"}


class OpEvent:
    """One timed slice: a forward or a backward of one Function call.

    ``op`` the class name, ``phase`` ``'forward'`` or ``'backward'``,
    ``start``/``end`` seconds since the profile began, ``saved`` the bytes the
    call saved for backward (forward slices of recorded calls; else 0),
    ``flops`` its floating-point operations when known (else None),
    ``algorithm`` the convolution path that ran (else None).
    """

    __slots__ = ("op", "phase", "start", "end", "saved", "flops", "call", "algorithm")

    def __init__(self, op, phase, start, end, saved=0, flops=None, call=0, algorithm=None):
        self.op, self.phase, self.start, self.end = op, phase, start, end
        self.saved, self.flops, self.call = saved, flops, call
        self.algorithm = algorithm

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _forward_flops(fn, inputs) -> int | None:
    """FLOPs of one forward of ``fn`` (conv2d and linear only; else None), from
    its input shapes and, for conv2d, its geometry setting."""
    name = type(fn).__name__
    if name not in _FLOP_OPS or len(inputs) < 2:
        return None
    x, weight = (getattr(t, "shape", None) for t in inputs[:2])
    if x is None or weight is None:
        return None
    if _FLOP_OPS[name] == "conv2d":
        N, C, H, W = x
        OC, _, KH, KW = weight
        SH, SW, PH, PW, DH, DW, groups = fn.geometry
        if (SH, PH, DH) != (SW, PW, DW):  # flops.py's formula takes one value per pair
            return None
        return conv2d_flops(N, C, H, W, OC, KH, KW, SH, PH, DH, groups)
    out_features, in_features = weight
    N = int(numpy.prod(x)) // in_features  # every leading axis is a batch axis
    return linear_flops(N, in_features, out_features)


def conv_path(fn, inputs) -> str | None:
    """The path a ``Conv2dFunction`` call with these inputs takes now (None for
    other ops): see the module docstring for the names."""
    if _FLOP_OPS.get(type(fn).__name__) != "conv2d" or len(inputs) < 2:
        return None
    x, weight = inputs[0], inputs[1]
    if not hasattr(x, "shape") or not hasattr(weight, "shape"):
        return None
    like = getattr(x, "data", x)
    owner = kernel_owner("conv2d_forward", like=like)
    if owner != "numba":
        return "cuda" if owner == "cuda" else "reference"
    from minicnn.kernels.cpu.conv import choose_algorithm  # loaded: numba owns the op
    _, C, _, W = x.shape
    OC, _, KH, KW = weight.shape
    SH, SW, PH, PW, DH, DW, groups = fn.geometry
    if is_pointwise(KH, KW, PH, PW):
        return "gemm 1x1"
    return choose_algorithm(C, OC, W, KH, KW, SH, SW, PH, PW, DH, DW, groups)


_PEAK = {}  # (numba threads, BLAS threads) -> measured sgemm GFLOP/s


def sgemm_peak_gflops() -> float:
    """NumPy's float32 GEMM rate here (1024 x 1024), measured once per thread setting."""
    key = _thread_setting()
    if key not in _PEAK:
        _PEAK[key] = sgemm_peak(1024, repeat=3)
    return _PEAK[key]


def _thread_setting():
    try:
        import numba
        numba_threads = numba.get_num_threads()
    except ImportError:
        numba_threads = None
    try:
        from threadpoolctl import threadpool_info
        blas = tuple(d.get("num_threads") for d in threadpool_info()
                     if d.get("user_api") == "blas")
    except ImportError:
        blas = None
    return numba_threads, blas


class Profile:
    """What ``profile()`` recorded: ``events`` (``OpEvent``, in time order of
    their end), and the memory ledger. Read it with ``table()``, ``rows()``,
    ``memory()`` and ``chrome_trace(path)``."""

    def __init__(self):
        self.events: list = []
        self.origin = time.perf_counter()
        self.wall_s = 0.0             # the length of the block
        self._held = 0                # bytes held for backward right now
        self.peak_bytes = 0
        self._held_by_node: dict = {}  # id(node) -> (op, bytes) until its backward
        self._path_by_node: dict = {}  # id(node) -> its conv path, until its backward
        self._calls = 0
        self.sgemm_peak_gflops = None  # measured when a table first needs it

    # ----------------------------------------------------------- recording
    def _on_forward(self, fn, node, inputs, start, end):
        self._calls += 1
        op = type(fn).__name__
        held = 0
        flops = _forward_flops(fn, inputs)
        path = conv_path(fn, inputs)
        if node is not None:
            held = saved_bytes(node)
            self._held_by_node[id(node)] = (op, held)
            self._path_by_node[id(node)] = path
            self._held += held
            self.peak_bytes = max(self.peak_bytes, self._held)
        self.events.append(OpEvent(op, "forward", start - self.origin, end - self.origin,
                                   held, flops, self._calls, path))

    def _on_backward(self, node, gys, start, end):
        op = type(node).__name__
        entry = self._held_by_node.pop(id(node), None)
        if entry is not None:
            self._held -= entry[1]  # the engine frees the buffers after backward
        flops = _forward_flops(node, getattr(node, "inputs", ()))
        if flops is not None:
            flops = int(flops * backward_factor(_FLOP_OPS[op]))
        path = self._path_by_node.pop(id(node), None)
        self.events.append(OpEvent(op, "backward", start - self.origin, end - self.origin,
                                   0, flops, algorithm=path))

    # ------------------------------------------------------------- reading
    def rows(self) -> list:
        """One dict per op and convolution path, sorted by total (forward +
        backward) time, largest first: op, algorithm (None but for conv2d),
        count (forward calls), forward_ms, backward_ms, percent (of all ops'
        time), gflops (per second, None when unknown), peak_percent (gflops as
        a percentage of ``sgemm_peak_gflops``, None when either is unknown),
        saved_bytes (sum over calls)."""
        acc = defaultdict(lambda: {"count": 0, "forward_s": 0.0, "backward_s": 0.0,
                                   "flops": 0, "flop_s": 0.0, "saved_bytes": 0,
                                   "backward_calls": 0})
        for e in self.events:
            row = acc[e.op, e.algorithm]
            if e.phase == "forward":
                row["count"] += 1
                row["forward_s"] += e.seconds
                row["saved_bytes"] += e.saved
            else:
                row["backward_calls"] += 1
                row["backward_s"] += e.seconds
            if e.flops is not None:
                row["flops"] += e.flops
                row["flop_s"] += e.seconds
        total = sum(r["forward_s"] + r["backward_s"] for r in acc.values()) or 1.0
        rows = []
        for (op, algorithm), r in acc.items():
            seconds = r["forward_s"] + r["backward_s"]
            gflops = r["flops"] / r["flop_s"] / 1e9 if r["flops"] and r["flop_s"] > 0 else None
            peak = self.sgemm_peak_gflops
            rows.append({"op": op, "algorithm": algorithm, "count": r["count"],
                         "backward_count": r["backward_calls"],
                         "forward_ms": r["forward_s"] * 1e3,
                         "backward_ms": r["backward_s"] * 1e3,
                         "percent": 100.0 * seconds / total, "gflops": gflops,
                         "peak_percent": 100.0 * gflops / peak if gflops and peak else None,
                         "saved_bytes": r["saved_bytes"]})
        rows.sort(key=lambda r: -(r["forward_ms"] + r["backward_ms"]))
        return rows

    def table(self) -> str:
        """``rows()`` as aligned text, with a total line. Measures the sgemm
        peak first (once per process) if a row has a GFLOP/s figure and
        ``sgemm_peak_gflops`` is not set."""
        if self.sgemm_peak_gflops is None and any(e.flops for e in self.events):
            self.sgemm_peak_gflops = sgemm_peak_gflops()
        header = (f"{'op':<27}{'algorithm':<11}{'count':>6}{'forward ms':>12}"
                  f"{'backward ms':>13}{'%':>7}{'GFLOP/s':>9}{'% peak':>8}{'saved':>11}")
        lines = [header, "-" * len(header)]
        rows = self.rows()
        for r in rows:
            gflops = "-" if r["gflops"] is None else f"{r['gflops']:.2f}"
            peak = "-" if r["peak_percent"] is None else f"{r['peak_percent']:.0f}"
            lines.append(f"{r['op']:<27}{r['algorithm'] or '-':<11}{r['count']:>6}"
                         f"{r['forward_ms']:>12.3f}{r['backward_ms']:>13.3f}{r['percent']:>7.1f}"
                         f"{gflops:>9}{peak:>8}{_human(r['saved_bytes']):>11}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<38}{sum(r['count'] for r in rows):>6}"
                     f"{sum(r['forward_ms'] for r in rows):>12.3f}"
                     f"{sum(r['backward_ms'] for r in rows):>13.3f}{100.0 if rows else 0:>7.1f}"
                     f"{'':>17}{_human(sum(r['saved_bytes'] for r in rows)):>11}")
        if self.sgemm_peak_gflops:
            lines.append(f"% peak: of NumPy's measured float32 GEMM rate here, "
                         f"{self.sgemm_peak_gflops:.0f} GFLOP/s")
        return "\n".join(lines)

    def memory(self) -> dict:
        """Bytes held for backward: ``peak_bytes`` (the most held at once),
        ``held_bytes`` (still held when the block ended: a graph not yet
        back-propagated, or kept by ``retain_graph``), ``by_op`` (op -> bytes
        saved by its calls, largest first)."""
        by_op = defaultdict(int)
        for e in self.events:
            if e.phase == "forward":
                by_op[e.op] += e.saved
        ordered = dict(sorted(by_op.items(), key=lambda kv: -kv[1]))
        return {"peak_bytes": self.peak_bytes, "held_bytes": self._held, "by_op": ordered}

    def trace_events(self) -> list:
        """The Chrome trace events: one complete ("X") event per forward and per
        backward, ``ts`` and ``dur`` in microseconds since the block began."""
        pid, tid = os.getpid(), threading.get_ident() % (1 << 31)
        events = []
        for e in sorted(self.events, key=lambda e: e.start):
            args = {"saved_bytes": e.saved}
            if e.flops is not None:
                args["flops"] = e.flops
            if e.algorithm is not None:
                args["algorithm"] = e.algorithm
            events.append({"name": e.op, "cat": e.phase, "ph": "X",
                           "ts": e.start * 1e6, "dur": e.seconds * 1e6,
                           "pid": pid, "tid": tid, "args": args})
        return events

    def chrome_trace(self, path) -> str:
        """Write the Chrome trace-event JSON (open it in https://ui.perfetto.dev or
        chrome://tracing) atomically; returns the path."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        trace = {"traceEvents": self.trace_events(), "displayTimeUnit": "ms"}
        with atomic_write(path, "w", encoding="utf-8") as f:
            json.dump(trace, f)
        return path


@contextlib.contextmanager
def profile():
    """Time every Function call (forward and backward) inside the block and
    count the bytes each saves for backward; yields the ``Profile`` it fills.

    Profiling blocks nest with each other and with ``trace_graph``.
    """
    prof = Profile()
    try:
        with wrap_functions(prof._on_forward, prof._on_backward):
            yield prof
    finally:
        prof.wall_s = time.perf_counter() - prof.origin
