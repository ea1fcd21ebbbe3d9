"""Per-op benchmark: forward and backward timed separately, minicnn beside PyTorch.

For each case and each engine (minicnn on every backend present, PyTorch on the
CPU and, where present, CUDA) the same inputs run ``repeat`` times after
``warmup`` calls. Forward is timed while building the graph (as in training);
backward is timed alone, its forward prepared untimed before each run.
"""
from __future__ import annotations

import numpy

from minicnn.bench.flops import backward_factor
from minicnn.bench.timing import CupyEventClock, TorchEventClock, measure

__all__ = ["engines", "run_case", "run_ops"]


def engines(backends=None, torch_devices=None) -> list[tuple[str, str]]:
    """The (framework, backend) pairs that can run here, minicnn's first."""
    from minicnn.backend import BackendUnavailableError, check_backend
    found = []
    for name in backends or ("numpy", "numba", "cuda"):
        try:
            check_backend(name)
        except BackendUnavailableError:
            continue
        found.append(("minicnn", name))
    try:
        import torch
    except ImportError:
        return found
    for device in torch_devices or ("cpu", "cuda"):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        found.append(("torch", device))
    return found


def _minicnn_runner(case, floats, ints, backend_name):
    import minicnn
    import minicnn.functional as F
    from minicnn.backend import cupy_module

    xp = cupy_module() if backend_name == "cuda" else numpy
    clock = CupyEventClock() if backend_name == "cuda" else None
    arrays = [xp.asarray(a) for a in floats]
    extra = [xp.asarray(a) for a in ints]

    def forward():
        with minicnn.use_backend(backend_name):
            tensors = [minicnn.Tensor(a, requires_grad=True) for a in arrays]
            return case.ours(F, *tensors, *extra)

    def prepared():
        y = forward()
        g = xp.ones(y.shape, dtype=y.dtype) if y.ndim else None
        return y, g

    def backward(state):
        y, g = state
        with minicnn.use_backend(backend_name):
            y.backward(g)

    return forward, prepared, backward, clock


def _torch_runner(case, floats, ints, device):
    import torch
    import torch.nn.functional as tF

    clock = TorchEventClock() if device == "cuda" else None
    arrays = [torch.from_numpy(a).to(device) for a in floats]
    extra = [torch.from_numpy(a).to(device) for a in ints]

    def forward():
        tensors = [a.detach().requires_grad_(True) for a in arrays]
        return case.theirs(tF, *tensors, *extra)

    def prepared():
        y = forward()
        return y, torch.ones_like(y)

    def backward(state):
        y, g = state
        y.backward(g)

    return forward, prepared, backward, clock


def run_case(case, framework, backend_name, warmup=2, repeat=5, peak_gflops=None):
    """Time one case on one engine; returns two records (forward, backward)."""
    floats, ints = case.make_inputs()
    make = _minicnn_runner if framework == "minicnn" else _torch_runner
    forward, prepared, backward, clock = make(case, floats, ints, backend_name)
    records = []
    for direction, timing in (
            ("forward", measure(forward, warmup=warmup, repeat=repeat, clock=clock)),
            ("backward", measure(backward, setup=prepared, warmup=warmup, repeat=repeat,
                                 clock=clock))):
        flops = case.flops * (backward_factor(case.op) if direction == "backward" else 1)
        rate = flops / timing.median / 1e9
        records.append({
            "op": case.op, "case": case.name, "network": case.network,
            "shapes": [list(s) for s in case.shapes], "direction": direction,
            "framework": framework, "backend": backend_name,
            "flops": int(flops), "gflops_per_s": rate,
            "peak_fraction": rate / peak_gflops if peak_gflops else None,
            **timing.as_dict(),
        })
    return records


def run_ops(cases, engine_list, warmup=2, repeat=5, peak_gflops=None, progress=None):
    """All cases on all engines, with each record's ratio to PyTorch's CPU time."""
    records = []
    for case in cases:
        for framework, backend_name in engine_list:
            if progress:
                progress(f"{case.name} [{framework}/{backend_name}]")
            records += run_case(case, framework, backend_name, warmup, repeat, peak_gflops)
    add_ratios(records, key=("case", "direction"))
    return records


def add_ratios(records, key):
    """``ratio_to_torch``: time over torch's time on the same device class."""
    reference = {}
    for r in records:
        if r["framework"] == "torch":
            reference[tuple(r[k] for k in key) + (r["backend"],)] = r["median"]
    for r in records:
        device = "cuda" if r["backend"] == "cuda" else "cpu"
        ref = reference.get(tuple(r[k] for k in key) + (device,))
        r["ratio_to_torch"] = r["median"] / ref if ref else None
    return records
