"""Pictures of a CNN: its first-layer filters and the feature maps of each layer.

    from minicnn.tools.visualize import visualize
    visualize(model, "pictures/", image=x)      # x: float (C, H, W) in [0, 1]

writes ``input.png``, ``filters.png`` (the first Conv2d's kernels, one tile
each, RGB when they have 3 input channels) and ``features_NN_<layer>.png`` (up
to 32 channels of each layer's output for the image), the pictures CNN
tutorials show to explain what a convolution learns. Without an image, scikit-learn's
sample photo ``china.jpg`` is used.
"""
from __future__ import annotations

import math
import os

import numpy

from minicnn.autograd import Tensor, no_grad

__all__ = ["visualize", "filter_grid", "feature_maps", "default_image", "first_conv"]

MAX_CHANNELS = 32
MAX_LAYERS = 24


def default_image(channels: int, size: int):
    """scikit-learn's sample photo china.jpg as float (C, size, size) in [0, 1]."""
    from PIL import Image
    from sklearn.datasets import load_sample_image
    photo = Image.fromarray(load_sample_image("china.jpg"))
    photo = photo.convert("L" if channels == 1 else "RGB").resize((size, size),
                                                                  Image.BILINEAR)
    array = numpy.asarray(photo, dtype=numpy.float32) / 255.0
    if channels == 1:
        return array[None]                  # (H, W) -> (1, H, W)
    return array.transpose(2, 0, 1)         # (H, W, 3) -> (3, H, W)


def first_conv(model):
    """The first Conv2d of ``model`` (in registration order), or None."""
    from minicnn import nn
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    return None


def feature_maps(model, x) -> list:
    """Run ``x (N, C, H, W)`` through ``model`` and return ``[(name, output array)]``
    for every leaf layer call that outputs (N, C, H, W) maps, in call order."""
    records = []
    leaves = [(name, m) for name, m in model.named_modules()
              if name and not list(m.children())]
    calls = {}

    def recorder(name, original):
        def forward(*args, **kwargs):
            out = original(*args, **kwargs)
            calls[name] = calls.get(name, 0) + 1
            label = name if calls[name] == 1 else f"{name}#{calls[name]}"
            if isinstance(out, Tensor) and out.ndim == 4:
                records.append((label, out.numpy()))
            return out
        return forward

    for name, m in leaves:
        # an instance attribute shadows the class's forward for this call only
        m.__dict__["forward"] = recorder(name, m.forward)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor(numpy.asarray(x, dtype=numpy.float32)))
    finally:
        for _, m in leaves:
            m.__dict__.pop("forward", None)
        model.train(was_training)
    return records


def _grid(n: int) -> tuple:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def _scale01(a):
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else numpy.zeros_like(a)


def filter_grid(weight, path: str, title: str = "first-layer filters") -> str:
    """Draw ``weight (OC, C, KH, KW)`` as OC tiles (RGB when C == 3, else the channel mean)."""
    from matplotlib.figure import Figure

    from minicnn.train.plots import save_figure
    w = numpy.asarray(weight, dtype=numpy.float64)
    OC = w.shape[0]
    rows, cols = _grid(OC)
    fig = Figure(figsize=(cols * 1.2, rows * 1.2 + 0.4))
    for i in range(OC):
        ax = fig.add_subplot(rows, cols, i + 1)
        if w.shape[1] == 3:
            ax.imshow(_scale01(w[i].transpose(1, 2, 0)), interpolation="nearest")  # (KH, KW, 3)
        else:
            ax.imshow(_scale01(w[i].mean(axis=0)), cmap="gray", interpolation="nearest")
        ax.set_axis_off()
    fig.suptitle(f"{title} {tuple(w.shape)}")
    return save_figure(fig, path)


def _maps_grid(name: str, maps, path: str) -> str:
    from matplotlib.figure import Figure

    from minicnn.train.plots import save_figure
    C = min(maps.shape[0], MAX_CHANNELS)
    rows, cols = _grid(C)
    fig = Figure(figsize=(cols * 1.3, rows * 1.3 + 0.4))
    for c in range(C):
        ax = fig.add_subplot(rows, cols, c + 1)
        ax.imshow(maps[c], cmap="viridis", interpolation="nearest")
        ax.set_axis_off()
    more = f", first {C} of {maps.shape[0]} channels" if maps.shape[0] > C else ""
    fig.suptitle(f"{name}: {tuple(maps.shape)}{more}")
    return save_figure(fig, path)


def visualize(model, out_dir: str, image=None, mean=None, std=None,
              input_shape=None) -> list:
    """Write input.png, filters.png and one features_*.png per layer; returns the paths.

    Args:
        model: a minicnn.nn.Module with at least one Conv2d.
        out_dir: the directory for the PNGs (created).
        image: float (C, H, W) in [0, 1]; default: china.jpg at ``input_shape``.
        mean, std: per-channel normalisation applied before the model (the training one).
        input_shape: (C, H, W) the model takes; needed when ``image`` is None.
    """
    from matplotlib.figure import Figure

    from minicnn.train.plots import save_figure
    conv = first_conv(model)
    if conv is None:
        raise ValueError(f"visualize: {type(model).__name__} has no Conv2d layer to draw")
    if image is None:
        if input_shape is None:
            raise ValueError("visualize: pass an image or the model's input_shape (C, H, W)")
        image = default_image(input_shape[0], input_shape[1])
    image = numpy.asarray(image, dtype=numpy.float32)
    if image.ndim != 3:
        raise ValueError(f"visualize: image must be (C, H, W), got shape {image.shape}")
    C = image.shape[0]
    x = image
    if mean is not None and std is not None:
        # (C,) -> (C, 1, 1) to broadcast over H, W
        x = (image - numpy.asarray(mean, numpy.float32).reshape(C, 1, 1)) / \
            numpy.asarray(std, numpy.float32).reshape(C, 1, 1)
    os.makedirs(out_dir, exist_ok=True)
    written = []

    fig = Figure(figsize=(3, 3))
    ax = fig.add_subplot(1, 1, 1)
    if C == 3:
        ax.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
    else:
        ax.imshow(image[0], cmap="gray")
    ax.set_axis_off()
    ax.set_title(f"input {tuple(image.shape)}")
    written.append(save_figure(fig, os.path.join(out_dir, "input.png")))

    written.append(filter_grid(conv.weight.numpy(), os.path.join(out_dir, "filters.png")))
    for i, (name, maps) in enumerate(feature_maps(model, x[None])[:MAX_LAYERS], start=1):
        safe = name.replace(".", "_").replace("#", "_call")
        path = os.path.join(out_dir, f"features_{i:02d}_{safe}.png")
        written.append(_maps_grid(name, maps[0], path))
    return written
