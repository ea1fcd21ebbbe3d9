"""Containers: Sequential, ModuleList, ModuleDict.

Children are registered under their index ('0', '1', ...) or key, which is
where state-dict names such as ``features.0.weight`` come from.
"""
from __future__ import annotations

import operator
from collections import OrderedDict

from minicnn.nn.module import Module, _addindent

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _index(container: Module, idx) -> int:
    """A (possibly negative) integer index into ``container``, range-checked."""
    try:
        idx = operator.index(idx)
    except TypeError:
        raise TypeError(f"{type(container).__name__} indices must be integers or slices, "
                        f"got {type(idx).__name__}") from None
    n = len(container)
    if not -n <= idx < n:
        raise IndexError(f"{type(container).__name__}: index {idx} is out of range "
                         f"for length {n}")
    return idx % n


def _check_module(container: str, module) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{container}: {type(module).__name__} is not a Module")
    return module


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Built from modules (named '0', '1', ...) or from one OrderedDict of
    ``name: module``.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, _check_module("Sequential", module))
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), _check_module("Sequential", module))

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(self, idx)]

    def __setitem__(self, idx, module) -> None:
        key = list(self._modules)[_index(self, idx)]
        self._modules[key] = _check_module("Sequential", module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        if isinstance(idx, slice):
            doomed = keys[idx]
        else:
            doomed = [keys[_index(self, idx)]]
        for key in doomed:
            del self._modules[key]
        # Renumber so indices stay 0..n-1, as PyTorch does.
        items = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(items):
            self._modules[str(i)] = module

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), _check_module("Sequential", module))
        return self

    def extend(self, modules) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        _check_module("Sequential", module)
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for "
                             f"length {n}")
        index = index % (n + 1) if index < 0 else index
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees (a plain list hides them)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(_index(self, idx))]

    def __setitem__(self, idx, module) -> None:
        self._modules[str(_index(self, idx))] = _check_module("ModuleList", module)

    def __delitem__(self, idx) -> None:
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_index(self, idx)]
        self._modules.clear()
        for i, module in enumerate(items):
            self._modules[str(i)] = module

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), _check_module("ModuleList", module))
        return self

    def extend(self, modules) -> ModuleList:
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend: expected an iterable of Modules, got a "
                            f"single {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        _check_module("ModuleList", module)
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "ModuleList has no forward(): iterate over it in the parent's forward")

    def __repr__(self) -> str:
        """PyTorch's compact form: runs of identical children print once,
        as ``(0-2): 3 x Linear(...)``."""
        if not self._modules:
            return "ModuleList()"
        reprs = [repr(m) for m in self._modules.values()]
        lines, start = [], 0
        for end in range(1, len(reprs) + 1):
            if end < len(reprs) and reprs[end] == reprs[start]:
                continue
            body = _addindent(reprs[start], 2)
            if end - start == 1:
                lines.append(f"({start}): {body}")
            else:
                lines.append(f"({start}-{end - 1}): {end - start} x {body}")
            start = end
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (insertion-ordered) whose parameters the parent sees."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r}; keys are {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _check_module("ModuleDict", module))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "ModuleDict has no forward(): index it in the parent's forward")
