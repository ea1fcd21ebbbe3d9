"""Inference mode: fold each BatchNorm2d into the convolution that feeds it, fuse
each ReLU into the convolution before it, and record no graph.

    folded = minicnn.optimize_for_inference(model, example_input=x[:1])
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

Then each ReLU that directly follows a convolution (after the fold, with the
folded BatchNorm2d, now an Identity, in between) is fused into it: the Conv2d
becomes an ``nn.ConvReLU2d`` (on the numba backend the ReLU is applied in the
im2col path's output write, or in one in-place pass after the direct and
Winograd paths) and the ``nn.ReLU`` is replaced by ``nn.Identity()``. The
pairs are found as the BN pairs are:

* a Conv2d followed by an nn.ReLU (Identity between them allowed) in a plain
  ``nn.Sequential`` (VGG, AlexNet, the CIFAR CNNs): the ReLU's slot in that
  Sequential is replaced, so the same ReLU module used elsewhere is untouched;
* with ``example_input``: an nn.ReLU attribute whose every call, in the traced
  forward (run again on the folded copy), receives exactly the output of a
  Conv2d that no other op reads (GoogLeNet's ``BasicConv2d``, a ResNet stem's
  own ReLU). A ReLU module called on anything else as well is left alone, with
  its convs: ResNet blocks share one ``self.relu`` between ``relu(bn1(conv1(x)))``
  and ``relu(out + identity)``, and a module swapped for Identity would drop the
  second ReLU. (Making the shared module skip just the conv's output would need a
  mark on the tensor; instead that ReLU stays a separate op, which under
  ``inplace=True`` and no_grad is one pass over the output, no allocation.)

The returned model records no graph: its parameters have ``requires_grad``
False and ``grad_free`` is set, so ``folded(x)`` runs under ``minicnn.no_grad()``
(``minicnn eval`` and ``minicnn predict`` use it). To train again, start from
the original model, which is left untouched.
"""
from __future__ import annotations

import copy
import warnings
from collections import Counter

import numpy

from minicnn.autograd import Tensor, as_tensor, enable_grad
from minicnn.backend import get_array_module
from minicnn.nn.activation import ReLU
from minicnn.nn.container import Sequential
from minicnn.nn.conv import Conv2d, ConvReLU2d
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


def _sequential_relus(model: Module) -> list[tuple[Conv2d, Sequential, str]]:
    """(conv, sequential, name of the ReLU's slot): a Conv2d followed, past any
    Identity (a folded BatchNorm2d), by an nn.ReLU in a plain Sequential."""
    found = []
    for m in model.modules():
        if type(m) is not Sequential:
            continue
        items = list(m._modules.items())
        for i, (_, conv) in enumerate(items):
            if type(conv) is not Conv2d:
                continue
            j = i + 1
            while j < len(items) and type(items[j][1]) is Identity:
                j += 1
            if j < len(items) and type(items[j][1]) is ReLU:
                found.append((conv, m, items[j][0]))
    return found


def _trace(model: Module, example_input, consumer_type):
    """Run ``example_input`` through ``model`` (graph recorded) and return
    (conv_calls, consumer_calls, conv_of_output, reads): the outputs of each
    Conv2d call, the (input, output) of each ``consumer_type`` call, the conv that
    made each output, and how many recorded ops read each tensor (all by id)."""
    conv_calls: dict[int, list] = {}     # id(conv) -> outputs it produced
    calls: dict[int, list] = {}          # id(consumer) -> (input, output) of each call
    conv_of_output: dict[int, Conv2d] = {}
    handles = []

    def on_conv(module, args, output):
        conv_calls.setdefault(id(module), []).append(output)   # keeps the id alive
        conv_of_output[id(output)] = module

    def on_consumer(module, args, output):
        calls.setdefault(id(module), []).append((args[0], output))

    for m in model.modules():
        if type(m) is Conv2d:
            handles.append(m.register_forward_hook(on_conv))
        elif isinstance(m, consumer_type):
            handles.append(m.register_forward_hook(on_consumer))
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
    for t in outputs:
        reads[id(t)] += 1          # a model output is read by the caller
    return conv_calls, calls, conv_of_output, reads


def _traced_pairs(model: Module, example_input) -> list[tuple[Conv2d, BatchNorm2d]]:
    """Run ``example_input`` through ``model`` (eval mode, graph recorded) and return
    the (conv, bn) pairs where bn's input is a conv's output and nothing else reads it."""
    conv_calls, bn_calls, conv_of_output, reads = _trace(model, example_input, BatchNorm2d)
    pairs = []
    for bn in model.modules():
        if not isinstance(bn, BatchNorm2d) or len(bn_calls.get(id(bn), [])) != 1:
            continue
        z, _ = bn_calls[id(bn)][0]
        conv = conv_of_output.get(id(z))
        if conv is None or len(conv_calls[id(conv)]) != 1:
            continue
        if reads[id(z)] == 1:
            pairs.append((conv, bn))
    return pairs


def _traced_relus(model: Module, example_input) -> list[tuple[ReLU, list[Conv2d]]]:
    """(relu, convs): an nn.ReLU module whose every call in the traced forward
    received exactly the output of one of ``convs``, each called once, its output
    read by nothing but that ReLU call."""
    conv_calls, relu_calls, conv_of_output, reads = _trace(model, example_input, ReLU)
    found = []
    for relu in model.modules():
        if type(relu) is not ReLU or id(relu) not in relu_calls:
            continue
        convs = []
        for z, y in relu_calls[id(relu)]:
            conv = conv_of_output.get(id(z))
            # the value the ReLU node read: z itself, or, after relu(z, inplace=True)
            # overwrote z, the tensor that took z's place in the graph
            read = y.grad_fn.inputs[0] if y.grad_fn is not None else None
            if (conv is None or len(conv_calls[id(conv)]) != 1 or read is None
                    or reads[id(read)] != 1):
                break
            convs.append(conv)
        else:
            found.append((relu, convs))
    return found


def _fuse_relus(model: Module, example_input) -> None:
    """Each ReLU that directly follows a Conv2d fused into it (see the module
    docstring): the conv becomes a ConvReLU2d, the ReLU an Identity."""
    places = _places(model)

    def swap(module, new):
        parent, name = places[id(module)][0]
        setattr(parent, name, new)

    for conv, sequential, name in _sequential_relus(model):
        if len(places.get(id(conv), [])) == 1:
            swap(conv, ConvReLU2d.from_conv(conv))
            setattr(sequential, name, Identity())
    if example_input is None:
        return
    for relu, convs in _traced_relus(model, example_input):
        if len(places.get(id(relu), [])) != 1:
            continue
        if any(len(places.get(id(conv), [])) != 1 for conv in convs):
            continue
        for conv in convs:
            swap(conv, ConvReLU2d.from_conv(conv))
        swap(relu, Identity())


def optimize_for_inference(model: Module, example_input=None) -> Module:
    """A new model, in eval mode, with every foldable BatchNorm2d folded into the
    Conv2d before it and every ReLU that follows a Conv2d fused into it (see this
    module's docstring for the maths and the patterns); it records no graph.

    ``model`` is deep-copied and left untouched. ``example_input``: one batch the
    model accepts, e.g. (1, C, H, W); without it only neighbours inside an
    ``nn.Sequential`` are folded and fused (a warning says how many BNs remain).
    The result's parameters do not require grad, and ``folded(x)`` runs under
    ``minicnn.no_grad()`` (``Module.grad_free``).
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
    _fuse_relus(folded, example_input)
    for p in folded.parameters():
        p.requires_grad_(False)
    folded.grad_free = True
    return folded
