"""Weights from PyTorch: ``from_torch(model, torch_state_dict_or_path)``.

    import torchvision
    from minicnn.zoo import resnet18, from_torch
    model = from_torch(resnet18(), torchvision.models.resnet18().state_dict())
    model = from_torch(resnet18(), 'resnet18.pth')     # a file saved by torch.save

The torchvision-compatible zoo models have the same module names and shapes as
torchvision, so the keys map one to one. Every tensor becomes a NumPy array of
its own dtype; a ``.pt``/``.pth`` file is read with ``torch.load(weights_only=True)``
(which refuses to run pickled code), so torch is needed only for files.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy

__all__ = ["from_torch", "torch_to_numpy_state_dict"]


def _to_numpy(key, value):
    if isinstance(value, numpy.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):      # a torch.Tensor
        return value.detach().cpu().numpy()
    raise TypeError(f"from_torch: the value of {key!r} is a {type(value).__name__}, "
                    f"not a tensor or array")


def _load_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"from_torch: no such file: {path!r}")
    try:
        import torch
    except ImportError:
        raise ImportError(f"from_torch: reading {path!r} needs PyTorch (pip install torch); "
                          f"or convert it once elsewhere and save it with "
                          f"minicnn.save") from None
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]                  # a training checkpoint
    return obj


def torch_to_numpy_state_dict(state_dict_or_path) -> OrderedDict:
    """A PyTorch state dict (or a .pt/.pth file) as an OrderedDict of NumPy arrays."""
    source = state_dict_or_path
    if isinstance(source, (str, os.PathLike)):
        source = _load_file(os.fspath(source))
    if not hasattr(source, "items"):
        raise TypeError(f"from_torch: expected a state dict or a file path, got "
                        f"{type(source).__name__}")
    return OrderedDict((key, _to_numpy(key, value)) for key, value in source.items())


def from_torch(model, state_dict_or_path, strict: bool = True):
    """Load PyTorch weights into ``model`` (converted to arrays); returns the model.

    Raises ``minicnn.nn.StateDictError`` listing every missing, unexpected and
    mis-shaped key at once. A torch state dict's ``num_batches_tracked`` entries are
    dropped when the model keeps no such counter.
    """
    arrays = torch_to_numpy_state_dict(state_dict_or_path)
    own = model.state_dict()
    for key in [k for k in arrays if k.endswith("num_batches_tracked") and k not in own]:
        del arrays[key]
    model.load_state_dict(arrays, strict=strict)
    return model
