"""Module and Parameter: the bookkeeping every layer shares.

A Module owns three ordered dictionaries, filled by plain attribute assignment:

    self.weight = Parameter(...)        -> self._parameters['weight']
    self.bn1 = BatchNorm2d(64)          -> self._modules['bn1']
    self.register_buffer('running_mean', zeros)  -> self._buffers['running_mean']

Walking them gives PyTorch's dotted names (``features.0.weight``,
``bn1.running_mean``), so ``state_dict()`` of a minicnn model has the same keys
and shapes as the same model built in PyTorch, and a PyTorch state dict
converted to NumPy arrays loads with ``load_state_dict``.

Parameters are Tensors (``p.data`` is the array, ``p.grad`` its gradient).
Buffers are raw arrays (NumPy or CuPy): ``F.batch_norm`` updates the running
statistics in place, and no gradient ever flows into them.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import check_backend, cupy_module, is_cupy_array

__all__ = ["Module", "Parameter", "StateDictError", "IncompatibleKeys", "RemovableHandle"]


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable weight.

    Assigning one to a Module attribute (``self.weight = Parameter(w)``) puts
    it in ``parameters()`` and ``state_dict()``. ``requires_grad`` is True by
    default. Built from a Tensor it shares that Tensor's array.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = numpy.empty(0, dtype=numpy.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(ValueError):
    """``load_state_dict`` found missing, unexpected or mis-shaped keys.

    ``missing_keys``, ``unexpected_keys`` and ``mismatched`` (a list of
    ``(key, expected_shape, got_shape)``) hold every problem found at once.
    """

    def __init__(self, module_name, missing_keys, unexpected_keys, mismatched):
        self.missing_keys = list(missing_keys)
        self.unexpected_keys = list(unexpected_keys)
        self.mismatched = list(mismatched)
        lines = [f"Error(s) in loading state_dict for {module_name}:"]
        if self.missing_keys:
            lines.append("  missing keys: " + ", ".join(repr(k) for k in self.missing_keys))
        if self.unexpected_keys:
            lines.append("  unexpected keys: "
                         + ", ".join(repr(k) for k in self.unexpected_keys))
        for key, expected, got in self.mismatched:
            lines.append(f"  size mismatch for {key!r}: the model has shape {expected}, "
                         f"the state_dict has shape {got}")
        super().__init__("\n".join(lines))


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = "What ``load_state_dict(strict=False)`` skipped, as PyTorch's."


def _to_numpy(value, key):
    """A state-dict value as an array, without importing torch.

    Accepts NumPy/CuPy arrays, minicnn Tensors, torch tensors (anything with
    ``.detach().cpu().numpy()`` or ``.numpy()``) and Python numbers.
    """
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, numpy.ndarray) or is_cupy_array(value):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy"):
        return value.numpy()
    try:
        array = numpy.asarray(value)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(f"load_state_dict: the value of {key!r} is a "
                        f"{type(value).__name__}, not an array or tensor")
    return array


def _move_array(array, device: str):
    """``array`` on ``device`` ('cpu' or 'cuda'); unchanged when already there."""
    if device == "cpu":
        return array.get() if is_cupy_array(array) else array
    check_backend("cuda")  # BackendUnavailableError when there is no GPU
    return array if is_cupy_array(array) else cupy_module().asarray(array)


def _parse_to_args(args, kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or keywords -> (device, dtype)."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(f"Module.to: unexpected keyword arguments {sorted(kwargs)}")
    if len(args) > 2:
        raise TypeError(f"Module.to: expected at most 2 positional arguments, got {len(args)}")
    for arg in args:
        if isinstance(arg, str) and arg in ("cpu", "cuda"):
            device = arg
        elif isinstance(arg, str) and arg.startswith("cuda:"):
            device = "cuda"
        else:
            dtype = arg
    if dtype is not None:
        try:
            dtype = numpy.dtype(dtype)
        except TypeError:
            raise TypeError(f"Module.to: {dtype!r} is neither a device ('cpu', 'cuda') "
                            "nor a dtype") from None
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating-point dtypes are allowed, got {dtype}")
    return device, dtype


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict, hook):
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (PyTorch's nested repr)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign Parameters and
    sub-Modules as attributes, and implement ``forward``; ``module(x)`` calls
    ``forward(x)``. ``training`` is the one train/eval switch that Dropout and
    BatchNorm read; ``train()`` and ``eval()`` set it on the whole tree.

    ``grad_free``: when True, ``module(x)`` runs its forward under
    ``minicnn.no_grad()`` (no graph is recorded); ``optimize_for_inference``
    sets it on the model it returns.
    """

    grad_free = False

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise NotImplementedError("abstract: " f"{type(self).__name__} has no forward(); "
                                  "a Module subclass must define it")

    def __call__(self, *args, **kwargs):
        if self.grad_free:
            with no_grad():
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-None return
        replaces the positional arguments. ``handle.remove()`` takes it off."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward (e.g. to record
        each layer's output shape); a non-None return replaces the output."""
        return RemovableHandle(self._forward_hooks, hook)

    # ------------------------------------------------------- registration
    def _check_new_name(self, kind: str, name) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() "
                                 "is called (call super().__init__() first)")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or None: a declared but absent parameter) under ``name``."""
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(a Parameter or None is required)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a non-learnable array (e.g. running statistics) under ``name``.

        Persistent buffers appear in ``state_dict()``. A Tensor is stored as its
        array; None declares the buffer without a value.
        """
        self._check_new_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists")
        self._buffers[name] = self._as_buffer(name, tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    @staticmethod
    def _as_buffer(name, value):
        if value is None or is_cupy_array(value):
            return value
        if isinstance(value, Tensor):
            return value.data
        if isinstance(value, numpy.ndarray):
            return value
        raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                        "(an array, a Tensor or None is required)")

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (a digit string for Sequential)."""
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (a Parameter or None is required)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._parameters, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None is required)")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            self._buffers[name] = self._as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name, *dicts):
        for d in dicts:
            if name in d:
                del d[name]

    def __getattr__(self, name: str):
        # Called only when normal lookup fails: look in the three registries.
        # self.__dict__.get avoids infinite recursion while unpickling/copying.
        for registry in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(registry)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters)
                      | set(self._buffers) | set(self._modules))

    # ----------------------------------------------------------- walking
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted name, module)`` for this module and all below, pre-order."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """Yield ``(name, module)`` for the direct children."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool, persistent_only: bool = False):
        seen = set()
        walk = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        for module_prefix, module in walk:
            members = getattr(module, registry)
            for name, value in members.items():
                if value is None:
                    continue
                if persistent_only and name in module._non_persistent_buffers:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """Yield ``(dotted name, Parameter)``: ``conv1.weight``, ``fc.bias``, ..."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        """Yield ``(dotted name, array)`` for buffers such as ``bn1.running_mean``."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar weights (only those with requires_grad if asked)."""
        return sum(p.size for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as ``'layer1.0.conv1'`` ('' is self)."""
        module = self
        if target == "":
            return module
        for i, part in enumerate(target.split(".")):
            child = module._modules.get(part)
            if child is None:
                walked = ".".join(target.split(".")[:i]) or "the root"
                raise AttributeError(f"get_submodule: {type(module).__name__} at {walked} "
                                     f"has no submodule {part!r}")
            module = child
        return module

    # -------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Every parameter and persistent buffer by dotted name, as plain arrays.

        Keys and order match PyTorch's: a module's own parameters, then its
        buffers, then its children's entries. The arrays are shared with the
        model, not copied (as in PyTorch): copy them (``copy.deepcopy``) to keep
        a snapshot while training goes on. ``keep_vars=True`` returns the
        Parameters themselves.
        """
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.data
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buf
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _state_slots(self):
        """``{key: (owner module, registry name, attribute name)}`` for loading."""
        slots = OrderedDict()
        for module_prefix, module in self.named_modules(remove_duplicate=False):
            dot = module_prefix + ("." if module_prefix else "")
            for name, param in module._parameters.items():
                if param is not None:
                    slots[dot + name] = (module, "_parameters", name)
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent_buffers:
                    slots[dot + name] = (module, "_buffers", name)
        return slots

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s values into this model's parameters and buffers.

        Values may be NumPy arrays, minicnn Tensors or torch tensors; they are
        copied INTO the existing arrays, which keep their dtype and device (the
        Parameter objects stay the same, so an optimizer holding them still
        works). Nothing is copied unless the whole dict is valid: any missing,
        unexpected (both only when ``strict``) or mis-shaped key raises one
        StateDictError listing all of them. Returns ``(missing_keys,
        unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of arrays, got "
                            f"{type(state_dict).__name__}")
        slots = self._state_slots()
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in slots]
        mismatched, values = [], {}
        for key, (module, registry, name) in slots.items():
            if key not in state_dict:
                continue
            value = _to_numpy(state_dict[key], key)
            if value.dtype.kind not in "biuf":
                raise TypeError(f"load_state_dict: the value of {key!r} has dtype "
                                f"{value.dtype}, not a numeric array")
            target = getattr(module, registry)[name]
            target_array = target.data if isinstance(target, Tensor) else target
            if tuple(value.shape) != tuple(target_array.shape):
                mismatched.append((key, tuple(target_array.shape), tuple(value.shape)))
            values[key] = value
        if mismatched or (strict and (missing or unexpected)):
            raise StateDictError(type(self).__name__, missing if strict else [],
                                 unexpected if strict else [], mismatched)
        for key, value in values.items():
            module, registry, name = slots[key]
            target = getattr(module, registry)[name]
            target_array = target.data if isinstance(target, Tensor) else target
            if is_cupy_array(target_array):
                value = cupy_module().asarray(value)
            elif is_cupy_array(value):
                value = value.get()
            # Copy into the existing array: dtype, device and object identity stay.
            target_array[...] = value.astype(target_array.dtype, copy=False)
            if isinstance(target, Tensor):
                target._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------ train / eval
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout drops, BatchNorm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (None, or zeros if ``set_to_none=False``)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad[...] = 0

    # ------------------------------------------------------ dtype / device
    def _apply_to_arrays(self, fn) -> Module:
        """Replace every parameter's data and grad, and every buffer, by ``fn(array)``.

        The Parameter objects stay the same (an optimizer holding them still
        sees the model's weights).
        """
        for module in self.modules():
            for param in module._parameters.values():
                if param is None:
                    continue
                param.data = fn(param.data)
                if param.grad is not None:
                    param.grad = fn(param.grad)
            for name, buf in module._buffers.items():
                if buf is not None:
                    module._buffers[name] = fn(buf)
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(dtype)`` casts floating parameters and buffers; ``to('cpu'|'cuda')``
        moves them. Integer buffers (``num_batches_tracked``) keep their dtype.
        Returns self.
        """
        device, dtype = _parse_to_args(args, kwargs)
        if device is not None:
            if device == "cuda":
                check_backend("cuda")  # raise before moving anything
            self._apply_to_arrays(lambda a: _move_array(a, device))
        if dtype is not None:
            def cast(a):
                if a.dtype.kind == "f" and a.dtype != dtype:
                    return a.astype(dtype)
                return a
            self._apply_to_arrays(cast)
        return self

    def float(self) -> Module:
        return self.to(numpy.float32)

    def double(self) -> Module:
        return self.to(numpy.float64)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every child (recursively), then on self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its repr's parentheses."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2)
                       for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def summary(self, input_shape, **kwargs):
        """A per-layer table of output shapes and parameter counts (minicnn.summary)."""
        # tools sits above nn in the import order; this upward call is the one
        # place nn reaches up, so it imports late.
        from minicnn.tools.summary import summary
        return summary(self, input_shape, **kwargs)
