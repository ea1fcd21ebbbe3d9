"""Direct, im2col + GEMM or Winograd: the numba backend's three conv2d paths.

The numba conv2d computes a small stride-1 layer with the direct kernels of
kernels/cpu/direct_conv.py and everything else with im2col + GEMM; a 3x3
stride-1 layer may also take Winograd (kernels/cpu/winograd.py) where it pays,
which so far is nowhere (``WINOGRAD_FROM`` is infinite). The switches are
``direct_conv.direct_conv_pays`` and ``winograd.winograd_pays``.
This part times every path that applies on the same layers (forward +
backward, alternating rounds; Winograd with both tiles, F(2x2) and F(4x4)) so
that the thresholds can be checked against measurements on any machine.

``winograd_error`` measures what Winograd costs in accuracy: float32
Winograd F(2x2) and F(4x4) and float32 im2col against a float64 reference,
forward, gx and gweight, on ResNet-like layers.
"""
from __future__ import annotations

import numpy

from minicnn.bench.timing import measure_interleaved

__all__ = ["LAYERS", "QUICK_LAYERS", "ERROR_LAYERS", "run_conv_paths", "markdown_conv_paths",
           "winograd_error", "markdown_winograd_error"]

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

# (layer, N, C, H=W, OC, padding): the 3x3 layers whose float32 error is measured
ERROR_LAYERS = [
    ("ResNet-20 3x3 @32", 8, 16, 32, 16, 1),
    ("ResNet-20 3x3 @8", 8, 64, 8, 64, 1),
    ("ResNet-50 3x3 @28", 4, 128, 28, 128, 1),
    ("ResNet-50 3x3 @14", 4, 256, 14, 256, 1),
]


def run_conv_paths(layers, rounds=5, progress=None) -> list:
    """Forward + backward time of each layer on every path that applies to it
    (Winograd, with both tiles, only to 3x3 layers): one record per layer."""
    from minicnn.functional._winograd import WINOGRAD_TILES, winograd_applies
    from minicnn.kernels.cpu import conv
    from minicnn.kernels.cpu.direct_conv import direct_conv_cost
    from minicnn.kernels.cpu.winograd import (
        winograd_conv2d_backward,
        winograd_conv2d_forward,
        winograd_cost,
    )

    def winograd_step(x, weight, bias, P, tile, needs_gx):
        """What conv2d's Winograd path runs, with the tile given (it takes WINOGRAD_TILE)."""
        y = winograd_conv2d_forward(x, weight, bias, P, P, tile)
        winograd_conv2d_backward(y, x, weight, P, P, needs_gx, True, tile)
        y.sum(axis=(0, 2, 3))  # gbias, as conv2d_backward computes it

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

        fns = {a: (lambda a=a: step(a)) for a in ("im2col", "direct")}
        if winograd_applies(K, K, 1, 1, P, P, 1, 1, 1):
            for tile in WINOGRAD_TILES:
                fns[f"winograd{tile}"] = (
                    lambda tile=tile, x=x, weight=weight, bias=bias, P=P, needs_gx=needs_gx:
                    winograd_step(x, weight, bias, P, tile, needs_gx))
        timings = measure_interleaved(fns, rounds=rounds, calls=3, warmup=1, round_seconds=0.2)
        im2col = timings["im2col"].median
        with conv.conv_algorithm("auto"):
            auto = conv.choose_algorithm(C, OC, H, K, K, 1, 1, P, P, 1, 1, 1)
        record = {
            "network": network, "layer": layer, "batch": N, "work": C * K * K * OC,
            "wide_work": direct_conv_cost(C, OC, H, K, K, P, 1),
            "im2col_median": im2col, "direct_median": timings["direct"].median,
            "direct_over_im2col": timings["direct"].median / im2col,
            "winograd_cost": None, "auto": auto}
        if "winograd2" in timings:
            record["winograd_cost"] = winograd_cost(C, OC, H, P)
        for tile in WINOGRAD_TILES:
            t = timings.get(f"winograd{tile}")
            record[f"winograd{tile}_median"] = None if t is None else t.median
            record[f"winograd{tile}_over_im2col"] = None if t is None else t.median / im2col
        records.append(record)
    return records


def markdown_conv_paths(records) -> str:
    lines = ["| layer | batch | C·K²·OC | × Wp/OW | im2col ms | direct ÷ im2col "
             "| Winograd cost | F(2×2) ÷ im2col | F(4×4) ÷ im2col | auto takes |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

    def cell(value, fmt):
        return "" if value is None else format(value, fmt)

    for r in records:
        lines.append(
            f"| {r['network']} {r['layer']} | {r['batch']} | {r['work']} | "
            f"{r['wide_work']:.0f} | {r['im2col_median'] * 1e3:.3g} | "
            f"{r['direct_over_im2col']:.2f} | {cell(r.get('winograd_cost'), '.0f')} | "
            f"{cell(r.get('winograd2_over_im2col'), '.2f')} | "
            f"{cell(r.get('winograd4_over_im2col'), '.2f')} | {r['auto']} |")
    return "\n".join(lines)


def _errors(approx, exact) -> tuple[float, float]:
    """(max abs error, max abs error / max abs of the exact value)."""
    err = float(numpy.max(numpy.abs(approx.astype(numpy.float64) - exact)))
    return err, err / float(numpy.max(numpy.abs(exact)))


def winograd_error(layers=ERROR_LAYERS, progress=None) -> list:
    """float32 error of im2col, Winograd F(2x2, 3x3) and F(4x4, 3x3) against float64
    im2col, forward, gx and gweight: one record per (layer, method, quantity)."""
    from minicnn.kernels.cpu import conv
    from minicnn.kernels.cpu.winograd import winograd_conv2d_backward, winograd_conv2d_forward

    records = []
    for layer, N, C, H, OC, P in layers:
        if progress:
            progress(f"Winograd error: {layer}")
        rng = numpy.random.default_rng(0)
        x = rng.standard_normal((N, C, H, H))
        # He-initialised filters, as a trained ResNet's are at the start
        weight = rng.standard_normal((OC, C, 3, 3)) * numpy.sqrt(2 / (9 * C))
        OHW = H + 2 * P - 2
        gy = rng.standard_normal((N, OC, OHW, OHW))
        zeros = numpy.zeros(OC)
        geometry = (1, 1, P, P, 1, 1, 1)
        with conv.conv_algorithm("im2col"):
            exact = (conv.conv2d_forward(x, weight, zeros, *geometry),
                     *conv.conv2d_backward(gy, x, weight, *geometry, True, True, False)[:2])
        x32, w32, gy32 = (a.astype(numpy.float32) for a in (x, weight, gy))
        with conv.conv_algorithm("im2col"):
            im2col = (conv.conv2d_forward(x32, w32, zeros.astype(numpy.float32), *geometry),
                      *conv.conv2d_backward(gy32, x32, w32, *geometry, True, True, False)[:2])
        methods = {"im2col": im2col}
        for tile in (2, 4):
            methods[f"Winograd F({tile}x{tile},3x3)"] = (
                winograd_conv2d_forward(x32, w32, zeros.astype(numpy.float32), P, P, tile),
                *winograd_conv2d_backward(gy32, x32, w32, P, P, True, True, tile))
        for method, results in methods.items():
            for quantity, approx, reference in zip(("y", "gx", "gweight"), results, exact):
                abs_err, rel_err = _errors(approx, reference)
                records.append({"layer": layer, "method": method, "quantity": quantity,
                                "max_abs_error": abs_err, "rel_error": rel_err})
    return records


def markdown_winograd_error(records) -> str:
    lines = ["| layer | float32 method | y max abs | y rel | gx max abs | gx rel "
             "| gweight max abs | gweight rel |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = {}
    for r in records:
        rows.setdefault((r["layer"], r["method"]), {})[r["quantity"]] = r
    for (layer, method), q in rows.items():
        cells = " | ".join(f"{q[k]['max_abs_error']:.1e} | {q[k]['rel_error']:.1e}"
                           for k in ("y", "gx", "gweight"))
        lines.append(f"| {layer} | {method} | {cells} |")
    return "\n".join(lines)
