"""Scaling study: conv2d time against FLOPs while one dimension grows.

A convolution does ``2*N*OC*OH*OW*C*KH*KW`` FLOPs; if the implementation is
compute bound its time grows linearly with that count. Three sweeps vary the
batch size, the image size and the channel count of a 3x3 layer; ``fit`` gives
the least-squares line time = a + b*FLOPs and its R^2 (close to 1: linear).
"""
from __future__ import annotations

import numpy

from minicnn.bench.cases import conv_case
from minicnn.bench.ops import run_case

__all__ = ["SWEEPS", "QUICK_SWEEPS", "run_scaling", "fit"]

# sweep name -> list of (C, H, OC, N)
SWEEPS = {
    "batch": [(64, 28, 64, n) for n in (1, 2, 4, 8, 16)],
    "image": [(64, h, 64, 4) for h in (14, 28, 42, 56, 84)],
    "channels": [(c, 28, c, 4) for c in (16, 32, 64, 128, 192)],
}
QUICK_SWEEPS = {
    "batch": [(8, 14, 8, n) for n in (1, 2, 4)],
    "image": [(8, h, 8, 2) for h in (8, 14, 20)],
    "channels": [(c, 14, c, 2) for c in (4, 8, 16)],
}


def fit(flops, seconds) -> dict:
    """Least squares seconds = a + b * flops, with R^2."""
    x = numpy.asarray(flops, dtype=float)
    y = numpy.asarray(seconds, dtype=float)
    b, a = numpy.polyfit(x, y, 1)
    residual = y - (a + b * x)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (residual ** 2).sum() / total if total > 0 else 1.0
    return {"intercept_s": float(a), "seconds_per_gflop": float(b * 1e9), "r2": float(r2)}


def run_scaling(engine_list, sweeps=None, warmup=1, repeat=3, progress=None):
    """Forward conv2d timings per sweep and engine, with a linear fit each."""
    sweeps = sweeps or SWEEPS
    points, fits = [], []
    for sweep, configs in sweeps.items():
        for framework, backend_name in engine_list:
            mine = []
            for C, H, OC, N in configs:
                case = conv_case("sweep", f"{sweep} C={C} H={H} N={N}", C, H, H, OC, 3, 1,
                                 1, 1, N=N)
                if progress:
                    progress(f"scaling {case.name} [{framework}/{backend_name}]")
                forward = run_case(case, framework, backend_name, warmup, repeat)[0]
                point = {"sweep": sweep, "framework": framework, "backend": backend_name,
                         "C": C, "H": H, "OC": OC, "N": N, "flops": forward["flops"],
                         "median": forward["median"]}
                mine.append(point)
            points += mine
            fits.append({"sweep": sweep, "framework": framework, "backend": backend_name,
                         **fit([p["flops"] for p in mine], [p["median"] for p in mine])})
    return points, fits
