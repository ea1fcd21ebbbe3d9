"""The autograd engine: ``Tensor``, ``Function`` and ``backward``, in one file.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()          # builds a graph: Mul -> Sum
    >>> y.backward()               # walks it back: dy/dx = 2x
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)

A ``Tensor`` is an array (NumPy, or CuPy on the GPU), its gradient ``grad``
(a plain array of the same shape, dtype and device, or None until backward
reaches it), and ``grad_fn``, the Function call that produced it.

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
output remembers its ``grad_fn`` and the node its ``inputs``.

``Tensor.backward()`` walks that graph from the output back to the leaves in
reverse topological order, found iteratively (a heap ordered by the node's
*generation*, its depth from the leaves), so a graph thousands of ops deep
needs no Python recursion. Gradients reaching the same tensor along several
paths are added up; leaves (tensors made by the user with requires_grad=True)
keep theirs in ``.grad``, and add to it across backward calls.

This module imports only ``minicnn.backend``. The operators (``+``, ``@``,
``.sum()`` ...) are Functions too; ``minicnn.ops`` defines them and attaches
them to Tensor in one explicit list at its end.
"""
from __future__ import annotations

import contextlib
import heapq
import threading
import weakref

import numpy

from minicnn.backend import get_array_module, is_cupy_array

__all__ = [
    "Tensor", "Function", "backward", "no_grad", "enable_grad", "is_grad_enabled",
    "as_tensor", "check_same_kind", "DEFAULT_DTYPE",
]

DEFAULT_DTYPE = numpy.float32


# ------------------------------------------------------------------ grad mode
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



# --------------------------------------------------------------------- Tensor
def _device_of(array) -> str:
    return "cuda" if is_cupy_array(array) else "cpu"


def _to_array(data, dtype=None):
    """Turn ``data`` into a NumPy/CuPy array; Python numbers become float32."""
    if isinstance(data, Tensor):
        data = data.data
    if is_cupy_array(data) or isinstance(data, numpy.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, numpy.generic):
        return numpy.asarray(data, dtype=dtype)
    array = numpy.asarray(data)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind in "fiu":  # Python ints and floats: the default float
        return array.astype(DEFAULT_DTYPE)
    if array.dtype.kind == "b":
        return array
    raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} "
                    f"(numpy dtype {array.dtype})")


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    Args:
        data: array-like (list, scalar, NumPy or CuPy array, Tensor).
        requires_grad: if True, ``backward()`` fills ``.grad`` for this tensor.
        dtype: optional dtype to convert ``data`` to.
    """

    __array_priority__ = 1000  # ``ndarray + Tensor`` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype "
                f"{self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.creator = None      # the Function that produced this tensor
        self.generation = 0      # depth in the graph, for backward's ordering

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def device(self) -> str:
        return _device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (copied off the GPU if needed)."""
        if is_cupy_array(self.data):
            return self.data.get()
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: tensor has {self.data.size} elements, expected 1 "
                             f"(shape {self.shape})")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.creator is not None:
            extra += f", grad_fn=<{type(self.creator).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor; leaves get ``.grad += d self / d leaf``.

        ``grad`` is d(loss)/d(self); it may be omitted only for a one-element
        tensor (a scalar loss), where it is 1.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph "
                "(no input had requires_grad=True, or it was made under no_grad())")
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicit only for a scalar output, but this "
                    f"tensor has shape {self.shape}; pass grad= of that shape")
            grad = xp.ones_like(self.data)
        else:
            grad = _to_array(grad, self.dtype)
            if tuple(grad.shape) != self.shape:
                raise ValueError(f"backward: grad has shape {tuple(grad.shape)}, "
                                 f"expected the tensor's shape {self.shape}")
        backward(self, grad, retain_graph=retain_graph)

    def _accumulate_grad(self, g) -> None:
        # Copy on first arrival: ``g`` may be shared with another tensor's grad.
        self.grad = g.copy() if self.grad is None else self.grad + g

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    # ``to(dtype | 'cpu' | 'cuda')`` is an op (it has a gradient): minicnn.ops
    # defines it and attaches it with the operators.
    def float(self) -> "Tensor":
        return self.to(numpy.float32)

    def double(self) -> "Tensor":
        return self.to(numpy.float64)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays the hash


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; scalars and arrays take ``like``'s dtype and device."""
    if isinstance(x, Tensor):
        return x
    if like is None:
        return Tensor(x)
    xp = get_array_module(like.data)
    return Tensor(xp.asarray(x, dtype=like.dtype))


def check_same_kind(op_name: str, tensors) -> None:
    """Raise a clear error when an op mixes float dtypes or CPU/GPU arrays."""
    floats = [t for t in tensors if t.data.dtype.kind == "f"]
    for t in floats[1:]:
        if t.dtype != floats[0].dtype:
            raise TypeError(
                f"{op_name}: operands have different dtypes {floats[0].dtype} and "
                f"{t.dtype}; convert one with .to(dtype) (e.g. model.double())")
    for t in tensors[1:]:
        if t.device != tensors[0].device:
            raise TypeError(
                f"{op_name}: operands are on different devices {tensors[0].device} and "
                f"{t.device}; move one with .to('{tensors[0].device}')")



# ------------------------------------------------------------------- Function
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
    xp = get_array_module(fn.inputs[0].data)
    shape, dtype = fn.output_meta[i]
    return xp.zeros(shape, dtype=dtype)
