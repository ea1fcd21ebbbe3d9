"""``summary(model, input_shape)``: a Keras-like table of a model's layers.

    >>> from minicnn.zoo import resnet18
    >>> info = summary(resnet18(), (3, 224, 224))      # prints the table
    >>> info.total_params, info.total_macs
    (11699112, 1814083944)

One forward pass of a zero batch of shape ``(batch_size, *input_shape)`` runs in
eval mode under ``no_grad``; a forward hook on every leaf module (one without
children) records one row per call:

    name            dotted module name (``layer1.0.conv1``), as in ``state_dict``
    type            the module's class (``Conv2d``)
    output_shape    the output's shape, batch included
    params          the layer's parameter count, Keras-style (see below); a module
                    called twice (a shared ReLU) counts its weights on its first row
    macs            multiply-accumulates of this call (below)
    activation_bytes  bytes of the output array

Parameter counts follow Keras, so they match the Keras tutorials' ``model.summary()``
(docs/references.md):
trainable = parameters with ``requires_grad``; non-trainable = frozen parameters
plus floating-point buffers (BatchNorm's running mean and variance, Keras's
"moving" statistics). The integer ``num_batches_tracked`` is not a parameter.
So a BatchNorm over C channels shows 4C parameters, 2C of them non-trainable.

MACs (multiply-accumulates; "FLOPs" in the ResNet and VGG papers) count the
products of the layers that have them:

    Conv2d   N * OC * OH * OW * (C / groups) * KH * KW      (output elements x fan-in)
    Linear   N * out_features * in_features

Bias additions, BatchNorm (foldable into the preceding conv at inference),
pooling, activations, LRN and dropout count 0: the convention of the papers'
tables and of torchvision's "GFLOPS" column (ResNet-50 at 224x224: 4.09 G).

Activation memory is the sum of the leaf outputs' sizes: roughly what the
forward pass keeps alive for backward.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from minicnn import nn
from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module

__all__ = ["summary", "ModelSummary", "LayerRow", "count_parameters", "layer_macs"]


@dataclass
class LayerRow:
    """One call of one leaf layer."""
    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    activation_bytes: int


@dataclass
class ModelSummary:
    """What ``summary`` prints, as data. ``str(info)`` is the table."""
    model_name: str
    input_shape: tuple                  # batch included
    rows: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    total_macs: int = 0
    activation_bytes: int = 0
    param_bytes: int = 0
    input_bytes: int = 0

    def __str__(self) -> str:
        return _format_table(self)

    def to_dict(self) -> dict:
        """The summary as plain dicts and lists (JSON-able)."""
        return {
            "model_name": self.model_name, "input_shape": list(self.input_shape),
            "rows": [dict(vars(r), output_shape=list(r.output_shape)) for r in self.rows],
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs, "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes, "input_bytes": self.input_bytes,
        }


def _is_statistic(name: str, buf) -> bool:
    """A buffer Keras would call a non-trainable weight: float, not a counter."""
    return (buf is not None and buf.dtype.kind == "f"
            and name.rsplit(".", 1)[-1] != "num_batches_tracked")


def count_parameters(module, recurse: bool = True) -> tuple[int, int, int]:
    """(trainable, non_trainable, bytes) of ``module``, counted the Keras way."""
    trainable = non_trainable = nbytes = 0
    for p in module.parameters(recurse=recurse):
        if p.requires_grad:
            trainable += p.size
        else:
            non_trainable += p.size
        nbytes += p.data.nbytes
    for name, buf in module.named_buffers(recurse=recurse):
        if _is_statistic(name, buf):
            non_trainable += int(buf.size)
            nbytes += int(buf.nbytes)
    return trainable, non_trainable, nbytes


def layer_macs(module, output_shape) -> int:
    """Multiply-accumulates of one call of a leaf ``module`` giving ``output_shape``."""
    out_elements = int(numpy.prod(output_shape)) if output_shape else 0
    if isinstance(module, nn.Conv2d):
        # W: (OC, C/groups, KH, KW): each output element is a dot product of
        # length C/groups * KH * KW.
        return out_elements * int(numpy.prod(module.weight.shape[1:]))
    if isinstance(module, nn.Linear):
        return out_elements * module.weight.shape[1]       # W: (out, in)
    return 0


def _output_tensors(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _output_tensors(item)]
    return []


def _check_input_shape(input_shape, batch_size):
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, (int, numpy.integer)) and d > 0 for d in input_shape):
        raise ValueError(f"summary: input_shape must be a non-empty tuple of positive "
                         f"ints without the batch dimension, e.g. (3, 32, 32); "
                         f"got {input_shape!r}")
    if not isinstance(batch_size, (int, numpy.integer)) or batch_size < 1:
        raise ValueError(f"summary: batch_size must be a positive int, got {batch_size!r}")
    return tuple(int(d) for d in input_shape)


def summary(model, input_shape, batch_size: int = 1, dtype=None, print_fn=print,
            model_name: str | None = None) -> ModelSummary:
    """Run one forward pass and tabulate every leaf layer (see the module docstring).

    Args:
        model: a ``minicnn.nn.Module``.
        input_shape: one sample's shape without the batch, e.g. ``(3, 224, 224)``.
        batch_size: the batch the forward pass runs with (MACs and activation
            memory scale with it; shapes print the batch as None, as Keras).
        dtype: the input's dtype; default the model's first parameter's (float32).
        print_fn: called with the table; None prints nothing.
        model_name: the title (default the model's class name).
    Returns:
        ModelSummary with ``rows`` (LayerRow per leaf call) and the totals.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: model must be a minicnn.nn.Module, got "
                        f"{type(model).__name__}")
    input_shape = _check_input_shape(input_shape, batch_size)
    params = list(model.parameters())
    xp = get_array_module(params[0].data) if params else numpy
    if dtype is None:
        dtype = params[0].dtype if params else numpy.float32
    x = Tensor(xp.zeros((batch_size,) + input_shape, dtype=dtype))

    info = ModelSummary(model_name or type(model).__name__, x.shape)
    counted = set()

    def record(name, module, out):
        tensors = _output_tensors(out)
        shape = tensors[0].shape if len(tensors) == 1 else tuple(t.shape for t in tensors)
        first_call = id(module) not in counted
        counted.add(id(module))
        trainable, non_trainable, _ = count_parameters(module) if first_call else (0, 0, 0)
        macs = sum(layer_macs(module, t.shape) for t in tensors)
        info.rows.append(LayerRow(
            name=name, type=type(module).__name__, output_shape=shape,
            params=trainable + non_trainable, trainable_params=trainable,
            non_trainable_params=non_trainable, macs=macs,
            activation_bytes=sum(int(t.data.nbytes) for t in tensors)))

    leaves = [(name, m) for name, m in model.named_modules()
              if next(iter(m.children()), None) is None]
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for name, m in leaves:
            label = name or type(m).__name__
            handles.append(m.register_forward_hook(
                lambda module, args, out, label=label: record(label, module, out)))
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training

    info.trainable_params, info.non_trainable_params, info.param_bytes = \
        count_parameters(model)
    info.total_params = info.trainable_params + info.non_trainable_params
    info.total_macs = sum(r.macs for r in info.rows)
    info.activation_bytes = sum(r.activation_bytes for r in info.rows)
    info.input_bytes = int(x.data.nbytes)
    if print_fn is not None:
        print_fn(str(info))
    return info


def _human_bytes(n: int) -> str:
    """Keras's units: 1 KB = 1024 bytes, two decimals."""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _human_count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _shape_str(shape) -> str:
    if shape and isinstance(shape[0], tuple):           # several outputs
        return ", ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join(["None"] + [str(d) for d in shape[1:]]) + ")"


def _format_table(info: ModelSummary) -> str:
    header = ("Layer (type)", "Output Shape", "Param #", "MACs")
    cells = [(f"{r.name} ({r.type})", _shape_str(r.output_shape), f"{r.params:,}",
              f"{r.macs:,}") for r in info.rows]
    widths = [max([len(header[i])] + [len(c[i]) for c in cells]) + 2 for i in range(4)]
    total_width = sum(widths)

    def line(c):
        return (c[0].ljust(widths[0]) + c[1].ljust(widths[1])
                + c[2].rjust(widths[2]) + c[3].rjust(widths[3]))

    itemsize = info.param_bytes / info.total_params if info.total_params else 4
    out = [f'Model: "{info.model_name}"', "_" * total_width, line(header), "=" * total_width]
    out += [line(c) for c in cells]
    out.append("=" * total_width)
    unrun = info.total_params - sum(r.params for r in info.rows)
    batch = info.input_shape[0]
    out += [
        f"Total params: {info.total_params:,} ({_human_bytes(info.param_bytes)})",
        f"Trainable params: {info.trainable_params:,} "
        f"({_human_bytes(info.trainable_params * itemsize)})",
        f"Non-trainable params: {info.non_trainable_params:,} "
        f"({_human_bytes(info.non_trainable_params * itemsize)})",
    ]
    if unrun:
        out.append(f"  ({unrun:,} of them in layers this eval-mode pass did not run, "
                   f"e.g. training-only auxiliary heads)")
    out += [
        f"Total MACs: {info.total_macs:,} ({_human_count(info.total_macs)}) "
        f"for a batch of {batch}",
        f"Input size: {_human_bytes(info.input_bytes)}",
        f"Activation memory (layer outputs): {_human_bytes(info.activation_bytes)}",
        "_" * total_width,
    ]
    return "\n".join(out)
