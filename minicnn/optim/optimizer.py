"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

An optimizer holds the parameters it updates in *parameter groups*, PyTorch's
layout: a list of dicts, each with a ``'params'`` list and the options
(``lr``, ``momentum``, ...) that apply to it. Options missing from a group
take the optimizer's defaults:

    SGD([{'params': model.features.parameters()},
         {'params': model.classifier.parameters(), 'lr': 1e-3}],
        lr=1e-2, momentum=0.9)

``step()`` reads each parameter's ``.grad`` and updates its ``.data`` array in
place (no graph is built: an update is not part of the model's computation),
on whatever backend the data lives (NumPy or CuPy), keeping its dtype.
Parameters whose ``.grad`` is None are skipped, as in PyTorch.

``state_dict()`` has PyTorch's format: parameters are referred to by their
index in the order they appear across the groups, so the dict holds no
parameter objects and can be saved with ``minicnn.save``:

    {'state': {0: {'momentum_buffer': array(...)}, ...},
     'param_groups': [{'lr': 0.01, 'momentum': 0.9, ..., 'params': [0, 1, 2]}]}
"""
from __future__ import annotations

from collections import defaultdict

import numpy

from minicnn.autograd import Tensor, enable_grad
from minicnn.backend import get_array_module, is_cupy_array

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a default that every parameter group must set (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _copy_state_value(value):
    """A copy of one state entry: arrays are copied, numbers returned as they are."""
    if isinstance(value, numpy.ndarray) or is_cupy_array(value):
        return value.copy()
    return value


def _state_value_like(value, param: Tensor, name: str, where: str):
    """Turn a loaded state entry into an array on ``param``'s backend and dtype.

    ``value`` may be a NumPy or CuPy array, or anything ``numpy.asarray``
    accepts (a CPU torch tensor from a PyTorch state dict, a list).
    """
    if is_cupy_array(value) and not is_cupy_array(param.data):
        value = value.get()  # GPU state into a CPU parameter: copy to host
    elif not is_cupy_array(value):
        value = numpy.asarray(value)
    xp = get_array_module(param.data)
    array = xp.array(value, copy=True)
    if array.dtype.kind == "f" and param.data.dtype.kind == "f":
        array = array.astype(param.data.dtype, copy=False)  # as PyTorch: state follows param
    if array.shape != param.data.shape:
        raise ValueError(
            f"load_state_dict: state {name!r} of {where} has shape {tuple(array.shape)} "
            f"but the parameter has shape {tuple(param.data.shape)}")
    return array


class Optimizer:
    """Base class of the optimizers.

    Args:
        params: an iterable of Tensors (Parameters), or an iterable of dicts,
            each one parameter group: ``{'params': [...], 'lr': ..., ...}``.
        defaults: the options of the optimizer, used by groups that do not set
            them.

    Subclasses implement ``step()``, and may override ``_check_group(group)``
    to validate a group's options (called for every group added).
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)  # parameter -> its state dict
        self.param_groups: list[dict] = []

        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors, but got "
                f"the module {type(params).__name__}; pass model.parameters()")
        if isinstance(params, Tensor) or isinstance(params, dict):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, "
                f"but got {type(params).__name__}; pass model.parameters() or [tensor]")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ groups
    def _check_group(self, group: dict) -> None:
        """Validate one group's options; subclasses raise ValueError on bad values."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with 'params' and optional options).

        Useful for fine-tuning: unfreeze layers and add them as training goes.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, "
                            f"got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be given in an ordered collection "
                            "(a list), not a set: the order must be the same run to run")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} of a group is a "
                                f"{type(p).__name__}, expected a Tensor (Parameter)")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor "
                                 f"(parameter {i}, shape {p.shape})")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.data.dtype}; "
                                "only floating-point tensors can be optimized")
        group["params"] = params

        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of "
                                 f"required optimization parameter {key!r}")
            group.setdefault(key, default)
        self._check_group(group)

        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once in one group")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one "
                             "parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``.grad = None`` (or zeros in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def _grads(self, group_index: int):
        """(param, grad) for every parameter of a group that has a gradient.

        Checks each gradient against its parameter before any update, so a
        wrong gradient stops the step before it changes anything.
        """
        pairs = []
        for i, p in enumerate(self.param_groups[group_index]["params"]):
            grad = p.grad
            if grad is None:
                continue
            if isinstance(grad, Tensor):
                grad = grad.data
            where = f"parameter {i} of group {group_index}"
            if tuple(grad.shape) != p.shape:
                raise ValueError(f"{type(self).__name__}.step: {where} has shape {p.shape} "
                                 f"but its grad has shape {tuple(grad.shape)}")
            if grad.dtype != p.data.dtype or is_cupy_array(grad) != is_cupy_array(p.data):
                raise TypeError(
                    f"{type(self).__name__}.step: {where} is {p.data.dtype} on {p.device} "
                    f"but its grad is {grad.dtype} on "
                    f"{'cuda' if is_cupy_array(grad) else 'cpu'}")
            pairs.append((p, grad))
        return pairs

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        raise NotImplementedError("abstract: an optimizer subclass implements step")

    def _run_closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's format (parameters as indices).

        State arrays are copies: later steps do not change a saved state dict.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, p_state in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: _copy_state_value(v) for k, v in p_state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()`` (or a PyTorch optimizer's, as arrays).

        The groups must have the same sizes as this optimizer's; the saved
        options replace the current ones and the state arrays are copied onto
        each parameter's backend and dtype.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' "
                             f"and 'param_groups', got {keys}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} "
                f"parameter groups but the optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded parameter group {i} has "
                    f"{len(saved['params'])} parameters but the optimizer's group {i} "
                    f"has {len(group['params'])}")

        # saved parameter id -> (our parameter, a readable name for messages)
        id_map = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            for pi, (saved_id, p) in enumerate(zip(saved["params"], group["params"])):
                id_map[int(saved_id)] = (p, f"parameter {pi} of group {gi}")

        new_state = defaultdict(dict)
        for saved_id, p_state in state_dict["state"].items():
            if int(saved_id) not in id_map:
                raise ValueError(f"{name}.load_state_dict: state refers to parameter "
                                 f"{saved_id}, which no parameter group lists")
            p, where = id_map[int(saved_id)]
            entry = {}
            for key, value in p_state.items():
                if key == "step":
                    entry[key] = int(float(value))  # PyTorch keeps a tensor(3.)
                elif value is None or isinstance(value, (bool, int, float)):
                    entry[key] = value
                else:
                    entry[key] = _state_value_like(value, p, key, where)
            new_state[p] = entry

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            new_group = {k: v for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            for key, default in self.defaults.items():
                new_group.setdefault(key, default)  # an older or foreign state dict
            self._check_group(new_group)
            new_groups.append(new_group)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
