"""Pictures of a CNN: its first-layer filters, each layer's feature maps, and a saliency map.

    from minicnn.tools.visualize import visualize
    visualize(model, "pictures/", image=x, classes=names)   # x: float (C, H, W) in [0, 1]

writes ``input.png``, ``filters.png`` (the first Conv2d's kernels, one tile
each, RGB when they have 3 input channels), ``<layer>_features.png`` (up to 32
channels of each layer's output for the image, e.g. ``conv1_features.png``,
with colour bars; ``shared_scale=True`` puts a layer's channels on one scale so
they can be compared) and ``saliency.png``: |d score / d input|, the gradient
of the predicted (or chosen) class score with respect to the input pixels
(Simonyan et al. 2014), computed by the autograd engine itself. It shows which
pixels would change the score most. ``minicnn visualize CHECKPOINT`` takes the
image from the checkpoint's own test set; a zoo name (random weights) falls
back to scikit-learn's sample photo ``china.jpg``.
"""
from __future__ import annotations

import math
import os

import numpy

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module

__all__ = ["visualize", "filter_grid", "feature_maps", "default_image", "first_conv",
           "saliency", "layer_file_name"]

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


def layer_file_name(name: str) -> str:
    """'layer1.0.conv1' -> 'layer1_0_conv1_features.png' ('act#2': the second call)."""
    return f"{name.replace('.', '_').replace('#', '_call')}_features.png"


def _maps_grid(name: str, maps, path: str, shared_scale: bool = False) -> str:
    """Up to MAX_CHANNELS maps (C, H, W) as tiles, with a colour bar.

    ``shared_scale``: every tile on the layer's one scale, and the bar shows
    activation values. Otherwise each tile is stretched from its own minimum to
    its maximum (written above it) and the bar shows that relative 0..1 scale.
    (One bar per figure: a bar per tile made a layer ten times slower to draw.)
    """
    from matplotlib.figure import Figure

    from minicnn.train.plots import save_figure
    C = min(maps.shape[0], MAX_CHANNELS)
    rows, cols = _grid(C)
    fig = Figure(figsize=(cols * 1.4 + 1, rows * 1.4 + 0.6))
    lo, hi = float(maps[:C].min()), float(maps[:C].max())
    image = None
    for c in range(C):
        ax = fig.add_subplot(rows, cols, c + 1)
        if shared_scale:
            image = ax.imshow(maps[c], cmap="viridis", interpolation="nearest", vmin=lo, vmax=hi)
        else:
            image = ax.imshow(_scale01(maps[c]), cmap="viridis", interpolation="nearest",
                              vmin=0, vmax=1)
            ax.set_title(f"[{maps[c].min():.2g}, {maps[c].max():.2g}]", fontsize=6)
        ax.set_axis_off()
    label = "activation" if shared_scale else "each map: its min (0) to its max (1)"
    fig.colorbar(image, ax=fig.axes, fraction=0.03, pad=0.02, label=label)
    more = f", first {C} of {maps.shape[0]} channels" if maps.shape[0] > C else ""
    scale_text = "one scale for the layer" if shared_scale else "each map on its own scale"
    fig.suptitle(f"{name}: {tuple(maps.shape)}{more} ({scale_text})")
    return save_figure(fig, path)


def saliency(model, x, target=None):
    """|d score / d x| for one normalised image ``x`` (C, H, W), and the probabilities.

    ``score`` is the logit of class ``target`` (default: the predicted class),
    back-propagated through the model in eval mode. Returns ``(saliency (H, W):
    the largest |gradient| over the channels, probabilities (K,), target)``.
    """
    from minicnn.functional import softmax
    was_training = model.training
    model.eval()
    try:
        inp = Tensor(numpy.asarray(x, dtype=numpy.float32)[None], requires_grad=True)
        logits = model(inp)                               # (1, K)
        probs = softmax(logits, dim=1).numpy()[0]
        if target is None:
            target = int(numpy.argmax(probs))
        if not 0 <= target < logits.shape[1]:
            raise ValueError(f"visualize: class {target} is outside the model's "
                             f"{logits.shape[1]} classes")
        xp = get_array_module(logits.data)
        one_hot = xp.zeros(logits.shape, dtype=logits.dtype)
        one_hot[0, target] = 1
        (logits * Tensor(one_hot)).sum().backward()        # d logits[0, target] / d input
        for p in model.parameters():                       # only the input's gradient is wanted
            p.grad = None
    finally:
        model.train(was_training)
    grad = inp.grad[0]                                     # (C, H, W)
    return numpy.abs(grad).max(axis=0), probs, target


def _saliency_picture(image, sal, title, path) -> str:
    from matplotlib.figure import Figure

    from minicnn.train.plots import save_figure
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot(1, 2, 1)
    if image.shape[0] == 3:
        ax.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
    else:
        ax.imshow(image[0], cmap="gray")
    ax.set_axis_off()
    ax.set_title("input")
    ax = fig.add_subplot(1, 2, 2)
    shown = ax.imshow(sal, cmap="hot", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("|d score / d pixel|")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title)
    return save_figure(fig, path)


def visualize(model, out_dir: str, image=None, mean=None, std=None,
              input_shape=None, classes=None, target=None, shared_scale: bool = False,
              print_fn=None) -> list:
    """Write input.png, filters.png, one <layer>_features.png per layer and
    saliency.png; returns the paths.

    Args:
        model: a minicnn.nn.Module with at least one Conv2d.
        out_dir: the directory for the PNGs (created).
        image: float (C, H, W) in [0, 1]; default: china.jpg at ``input_shape``.
        mean, std: per-channel normalisation applied before the model (the training one).
        input_shape: (C, H, W) the model takes; needed when ``image`` is None.
        classes: class names, for the prediction and the saliency title.
        target: the class whose score the saliency map explains (default: the predicted one).
        shared_scale: one colour scale per layer instead of one per feature map.
        print_fn: called with one line, the prediction and its probability (None: silent).
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

    sal, probs, target = saliency(model, x, target)
    guess = int(numpy.argmax(probs))

    def name_of(k):
        return classes[k] if classes is not None and k < len(classes) else f"class {k}"
    prediction = f"predicted {name_of(guess)} with probability {probs[guess]:.3f}"
    if print_fn is not None:
        print_fn(prediction)

    fig = Figure(figsize=(3, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    if C == 3:
        ax.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
    else:
        ax.imshow(image[0], cmap="gray")
    ax.set_axis_off()
    ax.set_title(f"input {tuple(image.shape)}\n{prediction}", fontsize=8)
    written.append(save_figure(fig, os.path.join(out_dir, "input.png")))

    written.append(filter_grid(conv.weight.numpy(), os.path.join(out_dir, "filters.png")))
    for name, maps in feature_maps(model, x[None])[:MAX_LAYERS]:
        path = os.path.join(out_dir, layer_file_name(name))
        written.append(_maps_grid(name, maps[0], path, shared_scale))
    title = (f"saliency of {name_of(target)} (p = {probs[target]:.3f})")
    written.append(_saliency_picture(image, sal, title, os.path.join(out_dir, "saliency.png")))
    return written
