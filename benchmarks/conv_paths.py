"""Direct convolution or im2col + GEMM: the numba backend's two conv2d paths.

The numba conv2d computes a small stride-1 layer with the direct kernels of
kernels/cpu/direct_conv.py and everything else with im2col + GEMM; the switch
is ``direct_conv.direct_conv_pays``. This part times both paths on the same
layers (forward + backward, alternating rounds) so the threshold it uses can be
checked against measurements on any machine.
"""
from __future__ import annotations

import numpy

from minicnn.bench.timing import measure_interleaved

__all__ = ["LAYERS", "QUICK_LAYERS", "run_conv_paths", "markdown_conv_paths"]

# (network, layer, N, C, H=W, OC, K, padding, needs gx): stride-1 layers of the zoo
LAYERS = [
    ("LeNet-5", "conv1 5x5", 64, 1, 28, 6, 5, 2, False),
    ("LeNet-5", "conv2 5x5 'same'", 64, 6, 14, 16, 5, 2, True),
    ("LeNet-5", "C3 5x5 (classic)", 64, 6, 14, 16, 5, 0, True),
    ("Keras CNN", "conv1 3x3", 64, 1, 28, 32, 3, 1, False),
    ("Keras CNN", "conv2 3x3", 64, 32, 14, 64, 3, 1, True),
    ("ResNet-20", "stem 3x3", 32, 3, 32, 16, 3, 1, False),
    ("ResNet-20", "3x3 @32", 32, 16, 32, 16, 3, 1, True),
    ("ResNet-20", "3x3 @16", 32, 32, 16, 32, 3, 1, True),
    ("ResNet-20", "3x3 @8", 32, 64, 8, 64, 3, 1, True),
    ("GoogLeNet", "3a 5x5", 8, 16, 28, 32, 5, 2, True),
    ("ResNet-50", "3x3 @56", 8, 64, 56, 64, 3, 1, True),
    ("ResNet-50", "3x3 @28", 8, 128, 28, 128, 3, 1, True),
    ("ResNet-50", "3x3 @14", 8, 256, 14, 256, 3, 1, True),
]
QUICK_LAYERS = [LAYERS[0], LAYERS[1]]


def run_conv_paths(layers, rounds=5, progress=None) -> list:
    """Forward + backward time of each layer on both paths: one record per layer."""
    from minicnn.kernels.cpu import conv
    from minicnn.kernels.cpu.direct_conv import direct_conv_cost, direct_conv_pays

    records = []
    for network, layer, N, C, H, OC, K, P, needs_gx in layers:
        if progress:
            progress(f"conv paths: {network} {layer}")
        rng = numpy.random.default_rng(0)
        x = rng.standard_normal((N, C, H, H)).astype(numpy.float32)
        weight = rng.standard_normal((OC, C, K, K)).astype(numpy.float32)
        bias = rng.standard_normal(OC).astype(numpy.float32)
        geometry = (1, 1, P, P, 1, 1, 1)

        def step(algorithm, x=x, weight=weight, bias=bias, geometry=geometry,
                 needs_gx=needs_gx):
            with conv.conv_algorithm(algorithm):
                y = conv.conv2d_forward(x, weight, bias, *geometry)
                conv.conv2d_backward(y, x, weight, *geometry, needs_gx, True, True)

        timings = measure_interleaved({a: (lambda a=a: step(a)) for a in ("im2col", "direct")},
                                      rounds=rounds, calls=3, warmup=1, round_seconds=0.2)
        records.append({
            "network": network, "layer": layer, "batch": N, "work": C * K * K * OC,
            "wide_work": direct_conv_cost(C, OC, H, K, K, P, 1),
            "im2col_median": timings["im2col"].median, "direct_median": timings["direct"].median,
            "direct_over_im2col": timings["direct"].median / timings["im2col"].median,
            "auto": "direct" if direct_conv_pays(C, OC, H, K, K, 1, 1, P, P, 1, 1, 1)
                    else "im2col"})
    return records


def markdown_conv_paths(records) -> str:
    lines = ["| layer | batch | C·K²·OC | × Wp/OW | im2col ms | direct ms | direct ÷ im2col "
             "| auto takes |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in records:
        lines.append(
            f"| {r['network']} {r['layer']} | {r['batch']} | {r['work']} | "
            f"{r['wide_work']:.0f} | {r['im2col_median'] * 1e3:.3g} | "
            f"{r['direct_median'] * 1e3:.3g} | {r['direct_over_im2col']:.2f} | {r['auto']} |")
    return "\n".join(lines)
