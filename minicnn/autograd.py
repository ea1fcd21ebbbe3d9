"""Reverse-mode automatic differentiation over a dynamic graph.

Every op is a ``Function`` with a ``forward`` on raw arrays and a ``backward``
that maps the gradient of its output(s) to the gradients of its inputs:

    class Exp(Function):
        def forward(self, x):
            self.y = xp.exp(x)          # saved, by name, for backward
            return self.y
        def backward(self, gy):
            return gy * self.y          # d exp(x)/dx = exp(x)

Calling a Function on Tensors runs ``forward`` and, when any input requires a
gradient and grad mode is on, records the call as a node of the graph: the
output remembers its ``creator`` and the creator its ``inputs``.

``Tensor.backward()`` walks that graph from the output back to the leaves in
reverse topological order, found iteratively (a heap ordered by the node's
*generation*, its depth from the leaves), so a graph thousands of ops deep
needs no Python recursion. Gradients reaching the same tensor along several
paths are added up; leaves (tensors made by the user with requires_grad=True)
keep theirs in ``.grad``, and add to it across backward calls.
"""
from __future__ import annotations

import contextlib
import heapq
import threading
import weakref

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "backward"]

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """False inside ``with minicnn.no_grad():``."""
    return getattr(_grad_mode, "enabled", True)


@contextlib.contextmanager
def _set_grad_enabled(enabled: bool):
    previous = is_grad_enabled()
    _grad_mode.enabled = enabled
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad():
    """Context manager: ops inside it build no graph (inference, updates)."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: turn graph building back on inside ``no_grad``."""
    return _set_grad_enabled(True)


# Attributes every Function has for the graph itself; everything else a
# Function sets on ``self`` is a buffer saved for backward.
_GRAPH_FIELDS = frozenset(
    {"inputs", "outputs", "output_meta", "generation", "needs_grad", "released"})


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(*arrays) -> array | tuple`` and
    ``backward(*grads) -> grad | tuple`` on raw arrays (NumPy or CuPy),
    saving what backward needs as attributes of ``self``.
    ``backward`` returns one gradient per input (``None`` for inputs that
    need none, such as integer labels); ``self.needs_grad[i]`` says which
    inputs want one, so backward can skip work.
    """

    def __call__(self, *inputs):
        from minicnn.tensor import Tensor, as_tensor, check_same_kind

        tensors = [as_tensor(x) for x in inputs]
        check_same_kind(type(self).__name__, tensors)
        outputs = self.forward(*[t.data for t in tensors])
        single = not isinstance(outputs, tuple)
        if single:
            outputs = (outputs,)
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        results = [Tensor(y, requires_grad=record) for y in outputs]
        if record:
            self.inputs = tensors
            self.needs_grad = tuple(t.requires_grad for t in tensors)
            self.generation = max(t.generation for t in tensors)
            # Weak references: the outputs own their creator, not the reverse.
            self.outputs = [weakref.ref(r) for r in results]
            self.output_meta = [(y.shape, y.dtype) for y in outputs]
            self.released = False
            for r in results:
                r.creator = self
                r.generation = self.generation + 1
        else:
            self._release()  # nothing will call backward: drop saved buffers now
        return results[0] if single else tuple(results)

    def forward(self, *xs):
        raise NotImplementedError("abstract: a Function subclass implements forward")

    def backward(self, *gys):
        raise NotImplementedError("abstract: a Function subclass implements backward")

    def _release(self):
        """Free the buffers saved for backward (called after backward)."""
        for name in [n for n in vars(self) if n not in _GRAPH_FIELDS]:
            delattr(self, name)
        self.released = True

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _accumulate(grads: dict, tensor, g):
    key = id(tensor)
    if key in grads:
        grads[key] = grads[key] + g
    else:
        grads[key] = g


def backward(output, grad, retain_graph: bool = False):
    """Back-propagate ``grad`` (d loss / d output) through the graph of ``output``.

    Leaves with ``requires_grad`` get ``.grad += d loss / d leaf``.
    """
    if output.creator is None:
        if output.requires_grad:
            output._accumulate_grad(grad)
        return
    if output.creator.released:
        raise RuntimeError(
            "backward: the graph of this tensor was already back-propagated and its "
            "saved buffers freed; pass retain_graph=True to the first backward() "
            "to go through it twice")
    grads = {id(output): grad}
    # Max-heap on generation: a node runs only after every node that feeds
    # gradient into its outputs (all of which are deeper) has run.
    heap, seen, counter = [], set(), 0

    def push(fn):
        nonlocal counter
        if id(fn) not in seen:
            seen.add(id(fn))
            heapq.heappush(heap, (-fn.generation, counter, fn))
            counter += 1

    push(output.creator)
    while heap:
        _, _, fn = heapq.heappop(heap)
        gys = []
        for ref in fn.outputs:
            out = ref()
            gys.append(None if out is None else grads.pop(id(out), None))
        if all(g is None for g in gys):
            continue
        gys = [_zeros_like_output(fn, i) if g is None else g for i, g in enumerate(gys)]
        gxs = fn.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(fn.inputs):
            raise RuntimeError(
                f"{type(fn).__name__}.backward returned {len(gxs)} gradients "
                f"for {len(fn.inputs)} inputs")
        for x, gx in zip(fn.inputs, gxs):
            if gx is None or not x.requires_grad:
                continue
            if gx.shape != x.shape:
                raise RuntimeError(
                    f"{type(fn).__name__}.backward: gradient shape {gx.shape} does not "
                    f"match input shape {x.shape}")
            if x.creator is None:
                x._accumulate_grad(gx)
            else:
                _accumulate(grads, x, gx)
                push(x.creator)
        if not retain_graph:
            fn._release()


def _zeros_like_output(fn, i):
    """Zero gradient for an output of a multi-output op that no path used."""
    from minicnn.backend import get_array_module
    xp = get_array_module(fn.inputs[0].data)
    shape, dtype = fn.output_meta[i]
    return xp.zeros(shape, dtype=dtype)
