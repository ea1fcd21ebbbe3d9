"""``minicnn explain``: what an op does to its input, step by step, with pictures.

    minicnn explain conv2d --input 1,7,7 --kernel 3 --stride 2 --padding 1 --out pics
    minicnn explain max_pool2d --input 1,6,6 --kernel 2
    minicnn explain batch_norm --input 3,4,4 --batch 8

The arrays behind every picture are computed by the functions here from the
index arithmetic alone (no im2col call), so the tests can check them against
the ops themselves; the ``draw_*`` functions only draw them (matplotlib).

For a convolution, with x: (N, C, H, W) and W: (OC, C/G, KH, KW):

    OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
    output pixel (oh, ow), kernel tap (i, j) reads padded-input pixel
        (oh*SH + i*DH, ow*SW + j*DW), i.e. input pixel (oh*SH + i*DH - PH, ...)

* the receptive field of an output pixel: the KH x KW taps it reads;
* the im2col index map: row i*KW + j, column oh*OW + ow of the column matrix
  holds input pixel h*W + w (-1: a padding zero);
* the col2im overlap: how many column entries col2im adds into each input
  pixel, i.e. col2im(im2col(ones)).
"""
from __future__ import annotations

import os

import numpy

from minicnn.functional.conv import conv_output_size
from minicnn.functional.pooling import pool_output_size

__all__ = [
    "conv_geometry", "output_size_steps", "receptive_field", "im2col_index_map",
    "col2im_overlap", "conv_algorithm_choice", "batch_norm_statistics",
    "explain_conv2d", "explain_max_pool2d", "explain_batch_norm",
    "draw_receptive_field", "draw_index_map", "draw_overlap", "draw_batch_norm",
]


# ------------------------------------------------------------- the arithmetic
def conv_geometry(H, W, KH, KW, SH=1, SW=1, PH=0, PW=0, DH=1, DW=1) -> dict:
    """Output size and padded size of a convolution (or pooling) window sweep.

    A one-line ValueError when the dilated kernel does not fit the padded input.
    """
    for name, v, low in (("H", H, 1), ("W", W, 1), ("KH", KH, 1), ("KW", KW, 1),
                         ("SH", SH, 1), ("SW", SW, 1), ("PH", PH, 0), ("PW", PW, 0),
                         ("DH", DH, 1), ("DW", DW, 1)):
        if int(v) != v or v < low:
            raise ValueError(f"explain: {name} must be an int >= {low}, got {v!r}")
    eff_h, eff_w = DH * (KH - 1) + 1, DW * (KW - 1) + 1
    Hp, Wp = H + 2 * PH, W + 2 * PW
    if eff_h > Hp or eff_w > Wp:
        raise ValueError(f"explain: the dilated kernel ({eff_h}, {eff_w}) is larger than the "
                         f"padded input ({Hp}, {Wp}); use a smaller kernel or more padding")
    return {"H": H, "W": W, "KH": KH, "KW": KW, "SH": SH, "SW": SW, "PH": PH, "PW": PW,
            "DH": DH, "DW": DW, "Hp": Hp, "Wp": Wp, "eff_h": eff_h, "eff_w": eff_w,
            "OH": conv_output_size(H, KH, SH, PH, DH), "OW": conv_output_size(W, KW, SW, PW, DW)}


def output_size_steps(g: dict) -> list:
    """The output-size formula with the numbers put in, one line per step, per axis."""
    lines = []
    for axis, size, K, S, P, D, out in (("OH", g["H"], g["KH"], g["SH"], g["PH"], g["DH"],
                                         g["OH"]),
                                        ("OW", g["W"], g["KW"], g["SW"], g["PW"], g["DW"],
                                         g["OW"])):
        a = axis[1]
        span = size + 2 * P - D * (K - 1) - 1
        lines.append(f"{axis} = ({a} + 2*P{a} - D{a}*(K{a}-1) - 1) // S{a} + 1")
        lines.append(f"   = ({size} + 2*{P} - {D}*({K}-1) - 1) // {S} + 1")
        lines.append(f"   = {span} // {S} + 1 = {span // S} + 1 = {out}")
        left = span % S
        if left:
            lines.append(f"   ({left} row(s)/column(s) at the far edge of the padded input are "
                         f"never read: the window would not fit there)")
        lines.append(f"   the dilated kernel spans D*(K-1)+1 = {D * (K - 1) + 1} pixels; "
                     f"the padded input is {size + 2 * P}")
    return lines


def receptive_field(g: dict, oh: int, ow: int):
    """int (Hp, Wp): 1 where output pixel (oh, ow) reads the padded input, else 0."""
    if not (0 <= oh < g["OH"] and 0 <= ow < g["OW"]):
        raise ValueError(f"explain: output pixel ({oh}, {ow}) is outside the output "
                         f"({g['OH']}, {g['OW']})")
    field = numpy.zeros((g["Hp"], g["Wp"]), dtype=numpy.int64)
    for i in range(g["KH"]):
        for j in range(g["KW"]):
            field[oh * g["SH"] + i * g["DH"], ow * g["SW"] + j * g["DW"]] = 1
    return field


def im2col_index_map(g: dict):
    """int (KH*KW, OH*OW): the input pixel h*W + w each column entry copies, -1 for padding.

    One channel's block of rows: channel c's rows are c*KH*KW + (i*KW + j).
    """
    index = numpy.full((g["KH"] * g["KW"], g["OH"] * g["OW"]), -1, dtype=numpy.int64)
    for i in range(g["KH"]):
        for j in range(g["KW"]):
            for oh in range(g["OH"]):
                for ow in range(g["OW"]):
                    h = oh * g["SH"] + i * g["DH"] - g["PH"]
                    w = ow * g["SW"] + j * g["DW"] - g["PW"]
                    if 0 <= h < g["H"] and 0 <= w < g["W"]:
                        index[i * g["KW"] + j, oh * g["OW"] + ow] = h * g["W"] + w
    return index


def col2im_overlap(g: dict):
    """int (H, W): how many column entries col2im adds into each input pixel
    (the count of each pixel in the im2col index map)."""
    index = im2col_index_map(g)
    counts = numpy.bincount(index[index >= 0], minlength=g["H"] * g["W"])
    return counts.reshape(g["H"], g["W"])  # (H*W,) -> (H, W)


def conv_algorithm_choice(C, OC, g: dict, groups: int = 1) -> dict:
    """Which path the numba backend's conv2d takes for this layer, and why.

    Returns ``{'algorithm': 'direct' | 'winograd' | 'im2col' | 'pointwise GEMM',
    'reason': str, 'cost': float | None, 'threshold': int | None}``, using the
    switch itself (``kernels/cpu/conv.py:choose_algorithm``, under the current
    ``conv_algorithm`` setting) and the cost functions of direct_conv.py and
    winograd.py.
    """
    geometry = (g["KH"], g["KW"], g["SH"], g["SW"], g["PH"], g["PW"], g["DH"], g["DW"])
    if geometry[:6] == (1, 1, 1, 1, 0, 0):
        return {"algorithm": "pointwise GEMM", "cost": None, "threshold": None,
                "reason": "a 1x1, stride-1, unpadded convolution: the image already is the "
                          "column matrix, so it is one GEMM with no im2col copy"}
    try:
        # numba is an optional dependency; the kernels module needs it at import
        from minicnn.kernels.cpu.direct_conv import (
            DIRECT_BELOW,
            direct_conv_applies,
            direct_conv_cost,
            direct_conv_pays,
        )
    except ImportError:
        return {"algorithm": "im2col", "cost": None, "threshold": None,
                "reason": "numba is not installed: the numpy backend always runs "
                          "im2col + GEMM (pip install numba for the direct kernels)"}
    if not direct_conv_applies(*geometry, groups):
        return {"algorithm": "im2col", "cost": None, "threshold": DIRECT_BELOW,
                "reason": "the direct kernels need stride 1, one group and padding within "
                          "the dilated kernel's reach; this layer has "
                          f"stride ({g['SH']}, {g['SW']}), groups {groups}, padding "
                          f"({g['PH']}, {g['PW']})"}
    from minicnn.functional._winograd import WINOGRAD_TILE
    from minicnn.kernels.cpu.conv import choose_algorithm
    from minicnn.kernels.cpu.winograd import WINOGRAD_FROM, winograd_cost
    if choose_algorithm(C, OC, g["W"], *geometry, groups) == "winograd":
        cost = winograd_cost(C, OC, g["W"], g["PW"])
        OW, m = g["W"] + 2 * g["PW"] - 2, WINOGRAD_TILE
        alpha2 = (m + 2) ** 2
        return {"algorithm": "winograd", "cost": cost, "threshold": WINOGRAD_FROM,
                "reason": f"a 3x3 stride-1 layer whose GEMMs are large: cost = C*OC * OW / "
                          f"(tiles' width) = {C}*{OC} * {OW}/{-(-OW // m) * m} = {cost:.0f} "
                          f">= {WINOGRAD_FROM}, so Winograd F({m}x{m}, 3x3) runs: "
                          f"{alpha2} GEMMs, {alpha2} multiply-adds per {m}x{m} output tile "
                          f"and input channel where im2col spends {9 * m * m}"}
    cost = direct_conv_cost(C, OC, g["W"], g["KH"], g["KW"], g["PW"], g["DW"])
    pays = direct_conv_pays(C, OC, g["W"], *geometry, groups)
    formula = (f"cost = C*KH*KW*OC * Wp/(Wp - DW*(KW-1)) = {C}*{g['KH']}*{g['KW']}*{OC} * "
               f"{g['Wp']}/{g['Wp'] - g['DW'] * (g['KW'] - 1)} = {cost:.0f}")
    if pays:
        reason = (f"{formula} < {DIRECT_BELOW}: the GEMM would be too small to pay for "
                  f"writing the column matrix, so the direct (wide-row) kernels run")
    else:
        reason = (f"{formula} >= {DIRECT_BELOW}: the GEMM is large enough to reuse what it "
                  f"loads, so im2col + GEMM runs")
    return {"algorithm": "direct" if pays else "im2col", "cost": cost,
            "threshold": DIRECT_BELOW, "reason": reason}


def batch_norm_statistics(x, momentum: float = 0.1, eps: float = 1e-5) -> dict:
    """What BatchNorm2d computes on one training batch x: (N, C, H, W), per channel.

    ``mean``, ``var`` (biased, used to normalise), ``var_unbiased`` (what the
    running average takes, as PyTorch), the running statistics after this one
    step from their initial (0, 1), and the outputs in training and eval mode
    (weight 1, bias 0): ``y_train`` uses the batch statistics, ``y_eval`` the
    running ones.
    """
    x = numpy.asarray(x, dtype=numpy.float64)
    if x.ndim != 4 or x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise ValueError(f"explain: batch_norm needs x (N, C, H, W) with more than one value "
                         f"per channel, got shape {x.shape}")
    M = x.shape[0] * x.shape[2] * x.shape[3]          # values per channel
    mean = x.mean(axis=(0, 2, 3))                     # (C,)
    var = x.var(axis=(0, 2, 3))                       # (C,) divide by M
    var_unbiased = var * M / (M - 1)                  # divide by M - 1
    running_mean = (1 - momentum) * 0.0 + momentum * mean
    running_var = (1 - momentum) * 1.0 + momentum * var_unbiased
    per_channel = (1, -1, 1, 1)                       # (C,) -> (1, C, 1, 1)
    y_train = (x - mean.reshape(per_channel)) / numpy.sqrt(var.reshape(per_channel) + eps)
    y_eval = (x - running_mean.reshape(per_channel)) / numpy.sqrt(
        running_var.reshape(per_channel) + eps)
    return {"M": M, "mean": mean, "var": var, "var_unbiased": var_unbiased,
            "running_mean": running_mean, "running_var": running_var,
            "y_train": y_train, "y_eval": y_eval}


# ---------------------------------------------------------------- the pictures
def _figure(w, h):
    import matplotlib  # optional dependency: only the pictures need it
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    return Figure(figsize=(w, h))


def _save(fig, path):
    from minicnn.runtime.fileio import save_figure
    fig.tight_layout()
    return save_figure(fig, path)


def _annotate(ax, values, fmt="{}", skip=None, size=8):
    rows, cols = values.shape
    if rows * cols > 400:  # too many numbers to read: the colours say it
        return
    for r in range(rows):
        for c in range(cols):
            if skip is None or values[r, c] != skip:
                ax.text(c, r, fmt.format(values[r, c]), ha="center", va="center",
                        fontsize=size)


def draw_receptive_field(g: dict, pixels, path, title="receptive field") -> str:
    """The padded input (padding grey) with the taps of each output pixel in ``pixels``."""
    from matplotlib.patches import Rectangle
    fig = _figure(max(4, g["Wp"] * 0.45 + 1.5), max(3.5, g["Hp"] * 0.45 + 1))
    ax = fig.add_subplot(1, 1, 1)
    base = numpy.zeros((g["Hp"], g["Wp"]))
    base[:g["PH"], :] = base[g["Hp"] - g["PH"]:, :] = 0.25      # padding rows
    base[:, :g["PW"]] = base[:, g["Wp"] - g["PW"]:] = 0.25      # padding columns
    ax.imshow(base, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple"]
    for k, (oh, ow) in enumerate(pixels):
        field = receptive_field(g, oh, ow)
        colour = colours[k % len(colours)]
        for r, c in zip(*numpy.nonzero(field)):
            ax.add_patch(Rectangle((c - 0.5 + 0.06 * k, r - 0.5 + 0.06 * k), 0.88, 0.88,
                                   fill=True, alpha=0.35, color=colour))
        ax.plot([], [], "s", color=colour, label=f"output ({oh}, {ow})")
    ax.set_xticks(range(g["Wp"]))
    ax.set_yticks(range(g["Hp"]))
    ax.set_xticklabels([str(c - g["PW"]) for c in range(g["Wp"])], fontsize=7)
    ax.set_yticklabels([str(r - g["PH"]) for r in range(g["Hp"])], fontsize=7)
    ax.set_xlabel("input column (negative / beyond W: padding, grey)")
    ax.set_ylabel("input row")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(f"{title}: padded input {g['Hp']}x{g['Wp']}")
    return _save(fig, path)


def draw_index_map(g: dict, path) -> str:
    """The im2col index map: which input pixel (h*W + w) each column entry copies."""
    index = im2col_index_map(g)
    fig = _figure(max(4, index.shape[1] * 0.4 + 2), max(3, index.shape[0] * 0.4 + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    shown = numpy.ma.masked_less(index, 0)  # padding entries stay white
    image = ax.imshow(shown, cmap="viridis", interpolation="nearest", aspect="auto")
    _annotate(ax, index, skip=-1, size=7)
    ax.set_xlabel("column oh*OW + ow (one per output pixel)")
    ax.set_ylabel("row i*KW + j (kernel tap)")
    ax.set_title(f"im2col: input pixel h*W + w in each entry (blank: padding), "
                 f"{index.shape[0]}x{index.shape[1]} per channel")
    fig.colorbar(image, ax=ax, label="input pixel h*W + w")
    return _save(fig, path)


def draw_overlap(g: dict, path, title="col2im overlap") -> str:
    """How many column entries (windows) add into each input pixel."""
    counts = col2im_overlap(g)
    fig = _figure(max(4, g["W"] * 0.45 + 2), max(3.5, g["H"] * 0.45 + 1))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(counts, cmap="magma", interpolation="nearest")
    _annotate(ax, counts)
    ax.set_title(f"{title}: windows reading each pixel (0: never read)")
    fig.colorbar(image, ax=ax, label="count")
    return _save(fig, path)


def draw_batch_norm(stats: dict, x, path) -> str:
    """Per channel: the input values, and the outputs in training and eval mode."""
    x = numpy.asarray(x, dtype=numpy.float64)
    C = x.shape[1]
    fig = _figure(4 * 3, 2.4 * C)
    for c in range(C):
        for col, (data, name) in enumerate(((x, "input"), (stats["y_train"], "train output"),
                                            (stats["y_eval"], "eval output"))):
            ax = fig.add_subplot(C, 3, c * 3 + col + 1)
            ax.hist(data[:, c].ravel(), bins=20, color=f"C{c}")
            ax.set_title(f"channel {c}: {name}\nmean {data[:, c].mean():.2f} "
                         f"std {data[:, c].std():.2f}", fontsize=9)
    return _save(fig, path)


# ----------------------------------------------------------------- the reports
def _default_pixels(g):
    pixels = [(0, 0), (g["OH"] // 2, g["OW"] // 2), (g["OH"] - 1, g["OW"] - 1)]
    return list(dict.fromkeys(pixels))  # unique, in order


def explain_conv2d(C, H, W, OC, KH, KW, SH=1, SW=1, PH=0, PW=0, DH=1, DW=1, groups=1,
                   out_dir=None, pixels=None, print_fn=print) -> list:
    """Print the arithmetic of one conv2d layer and draw its pictures; returns the paths."""
    if C % groups or OC % groups:
        raise ValueError(f"explain: channels ({C} in, {OC} out) must be divisible by groups "
                         f"({groups}); pass --out-channels and --groups that divide them")
    g = conv_geometry(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    pixels = _default_pixels(g) if pixels is None else pixels
    print_fn(f"conv2d: x ({C}, {H}, {W}) per image, weight ({OC}, {C // groups}, {KH}, {KW}), "
             f"stride ({SH}, {SW}), padding ({PH}, {PW}), dilation ({DH}, {DW}), "
             f"groups {groups}")
    for line in output_size_steps(g):
        print_fn("  " + line)
    print_fn(f"  output: ({OC}, {g['OH']}, {g['OW']}) per image")
    K = C // groups * KH * KW
    print_fn(f"im2col: columns ({C}*{KH}*{KW}, {g['OH']}*{g['OW']}) = "
             f"({C * KH * KW}, {g['OH'] * g['OW']}) per image, then per group a GEMM "
             f"({OC // groups}, {K}) @ ({K}, {g['OH'] * g['OW']})")
    print_fn(f"  {g['OH'] * g['OW'] * OC * K:,} multiply-adds per image")
    counts = col2im_overlap(g)
    print_fn(f"col2im: each input pixel receives between {counts.min()} and {counts.max()} "
             f"column entries in backward ({int((counts == 0).sum())} never read)")
    choice = conv_algorithm_choice(C, OC, g, groups)
    print_fn(f"numba backend: {choice['algorithm']}: {choice['reason']}")
    written = []
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        written.append(draw_receptive_field(g, pixels,
                                            os.path.join(out_dir, "conv2d_receptive_field.png")))
        written.append(draw_index_map(g, os.path.join(out_dir, "conv2d_im2col_index.png")))
        written.append(draw_overlap(g, os.path.join(out_dir, "conv2d_col2im_overlap.png")))
    return written


def explain_max_pool2d(C, H, W, KH, KW, SH=None, SW=None, PH=0, PW=0, DH=1, DW=1,
                       out_dir=None, print_fn=print) -> list:
    """Print the arithmetic of one max_pool2d and draw its windows; returns the paths."""
    SH = KH if SH is None else SH
    SW = KW if SW is None else SW
    if 2 * PH > KH or 2 * PW > KW:
        raise ValueError(f"explain: max_pool2d padding ({PH}, {PW}) must be at most half "
                         f"the kernel ({KH}, {KW}), as PyTorch requires")
    g = conv_geometry(H, W, KH, KW, SH, SW, PH, PW, DH, DW)
    # pooling's own formula (without ceil_mode it is conv2d's)
    g["OH"] = pool_output_size(H, KH, SH, PH, DH)
    g["OW"] = pool_output_size(W, KW, SW, PW, DW)
    print_fn(f"max_pool2d: x ({C}, {H}, {W}) per image, kernel ({KH}, {KW}), stride ({SH}, "
             f"{SW}), padding ({PH}, {PW}) (-inf, never chosen), dilation ({DH}, {DW})")
    for line in output_size_steps(g):
        print_fn("  " + line)
    print_fn(f"  output: ({C}, {g['OH']}, {g['OW']}) per image; each channel pooled alone")
    counts = col2im_overlap(g)
    overlap = "overlap" if SH < KH or SW < KW else "do not overlap"
    print_fn(f"windows {overlap}: each input pixel is in {counts.min()} to {counts.max()} "
             f"windows; backward sends each output gradient to its window's maximum only, "
             f"so a pixel that wins several windows adds their gradients")
    written = []
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        written.append(draw_receptive_field(g, _default_pixels(g),
                                            os.path.join(out_dir, "max_pool2d_windows.png"),
                                            title="pooling windows"))
        written.append(draw_overlap(g, os.path.join(out_dir, "max_pool2d_overlap.png"),
                                    title="window overlap"))
    return written


def explain_batch_norm(C, H, W, N=8, momentum=0.1, eps=1e-5, seed=0, out_dir=None,
                       print_fn=print) -> list:
    """Print BatchNorm2d's per-channel statistics on a random batch, training vs eval."""
    rng = numpy.random.default_rng(seed)
    # channel c: values around 2c - 1 with spread c + 1, so the channels differ
    x = rng.standard_normal((N, C, H, W)) * (numpy.arange(C) + 1).reshape(1, C, 1, 1) \
        + (2.0 * numpy.arange(C) - 1).reshape(1, C, 1, 1)
    s = batch_norm_statistics(x, momentum, eps)
    print_fn(f"batch_norm: x ({N}, {C}, {H}, {W}); statistics per channel over N*H*W = "
             f"{s['M']} values (momentum {momentum}, eps {eps})")
    print_fn("  training: y = (x - batch mean) / sqrt(batch var + eps) * weight + bias;")
    print_fn("            running = (1 - momentum) * running + momentum * batch statistic "
             "(the variance unbiased: * M/(M-1))")
    print_fn("  eval:     y = (x - running mean) / sqrt(running var + eps) * weight + bias")
    print_fn(f"  {'channel':>7} {'mean':>8} {'var':>8} {'var M/(M-1)':>11} {'run mean':>9} "
             f"{'run var':>8} {'train y std':>11} {'eval y std':>10}")
    for c in range(C):
        print_fn(f"  {c:>7} {s['mean'][c]:>8.3f} {s['var'][c]:>8.3f} "
                 f"{s['var_unbiased'][c]:>11.3f} {s['running_mean'][c]:>9.3f} "
                 f"{s['running_var'][c]:>8.3f} {s['y_train'][:, c].std():>11.3f} "
                 f"{s['y_eval'][:, c].std():>10.3f}")
    print_fn("  after one step the running statistics are still near their start (0, 1): "
             "a model evaluated too early normalises with the wrong numbers")
    written = []
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        written.append(draw_batch_norm(s, x, os.path.join(out_dir, "batch_norm.png")))
    return written
