"""Inference mode: fold each BatchNorm2d into the convolution that feeds it.

    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
    with minicnn.no_grad():
        logits = folded(x)                   # equals model.eval()(x) to float32 rounding

In eval mode BatchNorm2d is a fixed per-channel affine map of its input z,

    bn(z)[c] = gamma[c] * (z[c] - mean[c]) / sqrt(var[c] + eps) + beta[c]
             = s[c] * z[c] + (beta[c] - s[c] * mean[c]),     s = gamma / sqrt(var + eps)

and when z = conv(x) = W * x + b, output channel c of the conv is a linear
function of the filter W[c] and bias b[c] alone, so the scale moves into them:

    bn(conv(x))[c] = (s[c] W[c]) * x + s[c] (b[c] - mean[c]) + beta[c]
    W'[c] = W[c] * s[c]                  (every weight of filter c, any groups)
    b'[c] = (b[c] - mean[c]) * s[c] + beta[c]

One convolution then does the work of two layers; the BatchNorm2d is replaced by
``nn.Identity()``. The fold is computed in float64 and cast back to the conv's
dtype, so a float32 model changes only by float32 rounding.

Which pairs are folded:

* a ``Conv2d`` directly followed by a ``BatchNorm2d`` inside a plain
  ``nn.Sequential`` (VGG-BN features, ResNet downsample shortcuts, the CIFAR CNNs);
* with ``example_input``: every pair that a model's ``forward`` calls in sequence
  through attributes (ResNet blocks' ``self.bn1(self.conv1(x))``, GoogLeNet's
  ``BasicConv2d`` ``conv``/``bn``, the pre-activation bottleneck's conv1 -> bn2).
  These are found by running ``example_input`` (one image is enough) once through
  the copy and recording which BatchNorm2d receives exactly the tensor a Conv2d
  produced, a tensor no other op reads. Attribute names are never trusted: in the
  pre-activation blocks ``bn1`` runs *before* ``conv1``, and is left alone.

A BatchNorm2d that normalises anything else (a residual sum, a pre-activation
input), one without running statistics (``track_running_stats=False`` uses the
batch's statistics even in eval mode), or a module used at two places in the
model is kept as it is.

Activations run unfused: the engine has no fused conv+ReLU kernel, so ReLU stays
a separate op after the folded convolution. Graph recording is not switched off
by the returned model itself; run it under ``with minicnn.no_grad():`` (as
``minicnn eval`` and ``minicnn predict`` do) to skip building the backward graph.
"""
from __future__ import annotations

import copy
import warnings
from collections import Counter

import numpy

from minicnn.autograd import Tensor, as_tensor, enable_grad
from minicnn.backend import get_array_module
from minicnn.nn.container import Sequential
from minicnn.nn.conv import Conv2d
from minicnn.nn.linear import Identity
from minicnn.nn.module import Module, Parameter
from minicnn.nn.normalization import BatchNorm2d

__all__ = ["optimize_for_inference", "fold_conv_bn"]


def _array(v):
    """The array behind a Tensor/Parameter, or a buffer that already is one."""
    return v.data if isinstance(v, Tensor) else v


def fold_conv_bn(conv: Conv2d, bn: BatchNorm2d) -> None:
    """Fold eval-mode ``bn`` into ``conv`` in place: afterwards ``conv(x)`` equals
    ``bn(conv(x))`` of before. ``conv.bias`` is created if the conv had none.

    Shapes: conv.weight (OC, IC/groups, KH, KW), conv.bias (OC,), every BN vector (OC,).
    """
    if not isinstance(conv, Conv2d) or not isinstance(bn, BatchNorm2d):
        raise TypeError(f"fold_conv_bn: expected (Conv2d, BatchNorm2d), got "
                        f"({type(conv).__name__}, {type(bn).__name__}); pass a conv and the "
                        f"BatchNorm2d that normalises its output")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"fold_conv_bn: BatchNorm2d.num_features must equal "
                         f"Conv2d.out_channels ({conv.out_channels}), got {bn.num_features}; "
                         f"fold only the BN that directly follows this conv")
    if bn.running_mean is None:
        raise ValueError("fold_conv_bn: BatchNorm2d.running_mean is None "
                         "(track_running_stats=False normalises with batch statistics); "
                         "only a BN with running statistics can be folded")
    W = conv.weight.data
    xp = get_array_module(W)
    dtype = W.dtype
    OC = conv.out_channels
    mean = _array(bn.running_mean).astype(numpy.float64)                      # (OC,)
    var = _array(bn.running_var).astype(numpy.float64)                        # (OC,)
    gamma = (bn.weight.data.astype(numpy.float64) if bn.weight is not None
             else xp.ones(OC, dtype=numpy.float64))                        # (OC,)
    beta = (bn.bias.data.astype(numpy.float64) if bn.bias is not None
            else xp.zeros(OC, dtype=numpy.float64))                        # (OC,)
    b = (conv.bias.data.astype(numpy.float64) if conv.bias is not None
         else xp.zeros(OC, dtype=numpy.float64))                           # (OC,)
    s = gamma / xp.sqrt(var + bn.eps)                                      # (OC,)
    W_folded = W.astype(numpy.float64) * s.reshape(OC, 1, 1, 1)  # (OC,) -> (OC, 1, 1, 1)
    b_folded = (b - mean) * s + beta
    conv.weight = Parameter(W_folded.astype(dtype), requires_grad=conv.weight.requires_grad)
    conv.bias = Parameter(b_folded.astype(dtype))


def _places(model: Module) -> dict[int, list[tuple[Module, str]]]:
    """id(module) -> every (parent, attribute name) it is registered under."""
    places: dict[int, list[tuple[Module, str]]] = {}
    for parent in model.modules():
        for name, child in parent._modules.items():
            if child is not None:
                places.setdefault(id(child), []).append((parent, name))
    return places


def _sequential_pairs(model: Module) -> list[tuple[Conv2d, BatchNorm2d]]:
    """Conv2d immediately followed by BatchNorm2d in a plain Sequential."""
    pairs = []
    for m in model.modules():
        if type(m) is not Sequential:   # a subclass may override forward
            continue
        children = list(m._modules.values())
        for a, b in zip(children, children[1:]):
            if isinstance(a, Conv2d) and isinstance(b, BatchNorm2d):
                pairs.append((a, b))
    return pairs


def _flat_tensors(out) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat_tensors(o)]
    return []


def _traced_pairs(model: Module, example_input) -> list[tuple[Conv2d, BatchNorm2d]]:
    """Run ``example_input`` through ``model`` (eval mode, graph recorded) and return
    the (conv, bn) pairs where bn's input is a conv's output and nothing else reads it."""
    conv_calls: dict[int, list] = {}     # id(conv) -> outputs it produced
    bn_calls: dict[int, list] = {}       # id(bn) -> inputs it received
    conv_of_output: dict[int, Conv2d] = {}
    handles = []

    def on_conv(module, args, output):
        conv_calls.setdefault(id(module), []).append(output)   # keeps the id alive
        conv_of_output[id(output)] = module

    def on_bn(module, args, output):
        bn_calls.setdefault(id(module), []).append(args[0])

    for m in model.modules():
        if isinstance(m, Conv2d):
            handles.append(m.register_forward_hook(on_conv))
        elif isinstance(m, BatchNorm2d):
            handles.append(m.register_forward_hook(on_bn))
    ref = next(iter(model.parameters()), None)
    x = as_tensor(example_input)
    if ref is not None:
        xp = get_array_module(ref.data)
        x = Tensor(xp.asarray(x.data, dtype=ref.dtype))
    try:
        with enable_grad():
            outputs = _flat_tensors(model(x))
    finally:
        for h in handles:
            h.remove()
    # How many ops read each tensor: walk the recorded graph from the outputs.
    reads: Counter = Counter()
    seen: set[int] = set()
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for t in node.inputs:
            reads[id(t)] += 1
            if t.grad_fn is not None:
                stack.append(t.grad_fn)
    output_ids = {id(t) for t in outputs}
    pairs = []
    for bn in model.modules():
        if not isinstance(bn, BatchNorm2d) or len(bn_calls.get(id(bn), [])) != 1:
            continue
        z = bn_calls[id(bn)][0]
        conv = conv_of_output.get(id(z))
        if conv is None or len(conv_calls[id(conv)]) != 1:
            continue
        if reads[id(z)] == 1 and id(z) not in output_ids:
            pairs.append((conv, bn))
    return pairs


def optimize_for_inference(model: Module, example_input=None) -> Module:
    """A new model, in eval mode, with every foldable BatchNorm2d folded into the
    Conv2d before it (see this module's docstring for the maths and the patterns).

    ``model`` is deep-copied and left untouched. ``example_input``: one batch the
    model accepts, e.g. (1, C, H, W); without it only Conv2d -> BatchNorm2d
    neighbours inside an ``nn.Sequential`` are folded (a warning says how many BNs
    remain). Run the result under ``with minicnn.no_grad():``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"optimize_for_inference: model must be an nn.Module, got "
                        f"{type(model).__name__}; pass the model itself, not its state_dict")
    folded = copy.deepcopy(model).eval()
    pairs = _sequential_pairs(folded)
    if example_input is not None:
        pairs += _traced_pairs(folded, example_input)
    places = _places(folded)
    done: set[int] = set()
    for conv, bn in pairs:
        if id(bn) in done or id(conv) in done:
            continue
        if len(places.get(id(conv), [])) != 1 or len(places.get(id(bn), [])) != 1:
            continue   # shared modules: folding one use would change the other
        if bn.running_mean is None or bn.num_features != conv.out_channels:
            continue
        fold_conv_bn(conv, bn)
        parent, name = places[id(bn)][0]
        setattr(parent, name, Identity())
        done.update((id(conv), id(bn)))
    if example_input is None:
        left = sum(isinstance(m, BatchNorm2d) for m in folded.modules())
        if left:
            warnings.warn(f"optimize_for_inference: {left} BatchNorm2d left unfolded; pass "
                          f"example_input=<one input batch> to fold conv/bn attribute pairs "
                          f"(ResNet, GoogLeNet blocks)", stacklevel=2)
    return folded
