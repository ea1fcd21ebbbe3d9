"""The autograd engine: ``Tensor``, ``Function`` and ``backward``, in one file.

    >>> from minicnn import Tensor
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
    """Turn ``data`` into a NumPy/CuPy array.

    Arrays keep their dtype; Python numbers and lists of them become float32,
    as with ``torch.Tensor(...)``; booleans stay bool.
    """
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
                    f"(numpy dtype {array.dtype}); pass numbers, nested lists of "
                    "numbers, or a NumPy/CuPy array")


class _HookHandle:
    """Returned by ``Tensor.register_hook``; ``handle.remove()`` unregisters."""

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    Args:
        data: array-like (list, scalar, NumPy or CuPy array, Tensor).
        requires_grad: if True, ``backward()`` fills ``.grad`` for this tensor.
        dtype: optional dtype to convert ``data`` to.

    Arithmetic follows PyTorch's type promotion: an integer tensor with a
    float (a Python float or a float tensor) gives a float tensor (float32 for
    a Python float), division always gives a float, and two tensors of one kind
    give the wider dtype. Integer results that would wrap around (uint8
    overflow) raise instead of silently giving a wrong answer.

    ``t.data`` is the array itself, shared, not copied: writing into it is the
    caller's business, and autograd cannot see it. In-place changes made through
    minicnn (``t[i] = v``, ``zero_()``, optimizer steps, ``nn.init``) bump
    ``t._version``, and backward refuses a graph whose saved tensors changed.
    """

    __array_priority__ = 1000  # ``ndarray + Tensor`` calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype "
                f"{self.data.dtype}; convert first with .float()")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None      # the Function call that produced this tensor
        self.generation = 0      # depth in the graph, for backward's ordering
        self._version = 0        # bumped by every in-place change made through minicnn
        self._hooks = []         # gradient hooks, see register_hook
        self._retains_grad = False
        self._readers = []       # weak refs to the recorded nodes that read this
                                 # non-leaf tensor (for in-place ops: _hand_over_history)

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
        """True for tensors no recorded op produced (PyTorch's rule)."""
        return self.grad_fn is None

    @property
    def creator(self):
        """DeZero's name for ``grad_fn``: the Function call that made this tensor."""
        return self.grad_fn

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def T(self) -> "Tensor":
        return self.transpose()

    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (copied off the GPU if needed)."""
        if is_cupy_array(self.data):
            return self.data.get()
        return self.data

    def tolist(self):
        return self.numpy().tolist()

    # ------------------------------------------------- Python number protocol
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor; use .item() for its value")
        return len(self.data)

    def _one_value(self, what: str):
        if self.data.size != 1:
            raise ValueError(
                f"{what}: only one-element tensors can be converted to Python "
                f"scalars, this one has shape {self.shape} ({self.size} elements); "
                "reduce it first (.sum(), .mean()) or index one element")
        return self.data.item()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self._one_value("item")

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"Boolean value of a tensor with {self.size} values is ambiguous "
                f"(shape {self.shape}); use (t > 0).all() or .any()")
        return bool(self.data.item())

    def __float__(self) -> float:
        return float(self._one_value("float()"))

    def __int__(self) -> int:
        return int(self._one_value("int()"))

    def __index__(self) -> int:
        if self.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError(
                f"only integer tensors of a single element can be used as an index, "
                f"got dtype {self.dtype} with shape {self.shape}")
        return int(self.data.item())

    def __format__(self, spec: str) -> str:
        if self.data.size == 1:
            return format(self.data.item(), spec)
        if spec:
            raise TypeError(
                f"format spec {spec!r} needs a one-element tensor, this one has shape "
                f"{self.shape}; format t.item() or t.numpy() instead")
        return str(self)

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{type(self.grad_fn).__name__}>"
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

    def register_hook(self, hook) -> _HookHandle:
        """Call ``hook(grad)`` when the gradient with respect to this tensor is
        computed; a hook that returns an array replaces the gradient.

        For a leaf the hook sees the whole gradient of one backward pass, before
        it is added to ``.grad``; for an intermediate tensor, before it flows on
        into the op that made it. Returns a handle: ``handle.remove()``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "register_hook: this tensor does not require grad, so no gradient will "
                "reach it; create it with requires_grad=True")
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this intermediate tensor after backward (leaves
        always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError(
                "retain_grad: this tensor does not require grad; no gradient will reach it")
        if self.grad_fn is not None:
            self._retains_grad = True

    def _run_hooks(self, g):
        for hook in self._hooks:
            result = hook(g)
            if result is None:
                continue
            if isinstance(result, Tensor):
                result = result.data
            shape = tuple(getattr(result, "shape", ()))
            if shape != self.shape:
                raise RuntimeError(
                    f"register_hook: a hook returned a gradient of shape {shape}, "
                    f"expected {self.shape}")
            g = result
        return g

    def _accumulate_grad(self, g) -> None:
        # Copy on first arrival: ``g`` may be shared with another tensor's grad.
        self.grad = g.copy() if self.grad is None else self.grad + g

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating-point tensors can require gradients, "
                f"got dtype {self.dtype}; convert first with .float()")
        self.requires_grad = bool(requires_grad)
        return self

    # ------------------------------------------------------- in-place changes
    def _check_in_place(self, what: str) -> None:
        if self.requires_grad and self.is_leaf and is_grad_enabled():
            raise RuntimeError(
                f"{what}: a leaf Variable that requires grad is being used in an in-place "
                "operation (PyTorch's rule); do it inside `with minicnn.no_grad():` (as "
                "optimizers do), or use the out-of-place op")

    def _bump_version(self) -> None:
        """Record an in-place change (called by every minicnn in-place write)."""
        self._version += 1

    def __setitem__(self, index, value) -> None:
        self._check_in_place("t[index] = value")
        if isinstance(index, Tensor):
            index = index.data
        self.data[index] = getattr(value, "data", value)
        self._bump_version()

    def zero_(self) -> "Tensor":
        """Fill with zeros, in place."""
        self._check_in_place("zero_")
        self.data[...] = 0
        self._bump_version()
        return self

    def fill_(self, value) -> "Tensor":
        """Fill with ``value``, in place."""
        self._check_in_place("fill_")
        self.data[...] = value
        self._bump_version()
        return self

    def copy_(self, src) -> "Tensor":
        """Copy ``src``'s values into this tensor, in place (shapes must broadcast)."""
        self._check_in_place("copy_")
        self.data[...] = getattr(src, "data", src)
        self._bump_version()
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
        if t.data.dtype != floats[0].data.dtype:
            raise TypeError(
                f"{op_name}: operands have different dtypes {floats[0].dtype} and "
                f"{t.dtype}; convert one with .to(dtype) (e.g. model.double())")
    on_gpu = is_cupy_array(tensors[0].data) if tensors else False
    for t in tensors[1:]:
        if is_cupy_array(t.data) != on_gpu:
            raise TypeError(
                f"{op_name}: operands are on different devices {tensors[0].device} and "
                f"{t.device}; move one with .to('{tensors[0].device}')")


# ------------------------------------------------------------------- Function
# Attributes every recorded call has for the graph itself. The attributes a
# Function had before its forward ran (its settings, from __init__) stay; the
# ones forward adds are the buffers saved for backward, freed after it.
_GRAPH_FIELDS = frozenset({
    "inputs", "outputs", "output_meta", "generation", "needs_grad", "released",
    "_settings", "_saved_versions",
})


def _is_array(x) -> bool:
    return isinstance(x, numpy.ndarray) or is_cupy_array(x)


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(*arrays) -> array | tuple`` and
    ``backward(*grads) -> grad | tuple`` on raw arrays (NumPy or CuPy),
    saving what backward needs as attributes of ``self``. Both get the array
    module from their data, so one op runs on CPU and GPU::

        class Exp(Function):
            def forward(self, x):
                xp = minicnn.get_array_module(x)   # numpy, or cupy on the GPU
                self.y = xp.exp(x)
                return self.y

            def backward(self, gy):
                return gy * self.y

    ``backward`` returns one gradient per input (``None`` for inputs that
    need none, such as integer labels); ``self.needs_grad[i]`` says which
    inputs want one, so backward can skip work.

    An instance may be called several times; each call is its own node of the
    graph (the first call uses the instance itself, later calls a copy of its
    settings), so ``exp = Exp(); exp(a) + exp(b)`` back-propagates into both.
    Attributes set in ``__init__`` are settings and survive backward; those set
    in ``forward`` are saved buffers, freed after backward.
    """

    # True for an op that writes its result into its one input's array (a setting,
    # e.g. ReLUFunction(in_place=True)): the call returns that input, see _call_in_place
    in_place = False

    def __call__(self, *inputs):
        node = self._new_node()
        if node.in_place:
            return _call_in_place(node, *inputs)
        name = type(node).__name__
        tensors = [as_tensor(x) for x in inputs]
        check_same_kind(name, tensors)
        outputs = node.forward(*[t.data for t in tensors])
        single = not isinstance(outputs, tuple)
        outputs = _check_forward_outputs(name, (outputs,) if single else outputs)
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        results = [Tensor(y, requires_grad=record) for y in outputs]
        if record:
            _record(node, tensors, results)
        else:
            node._release()  # nothing will call backward: drop saved buffers now
        return results[0] if single else tuple(results)

    def _new_node(self) -> "Function":
        """The object that records this call: ``self`` the first time, then a
        fresh copy of the settings ``self`` had before its first forward."""
        if "_settings" not in vars(self):
            self._settings = dict(vars(self))
            return self
        node = object.__new__(type(self))
        node.__dict__.update(self._settings)
        node._settings = self._settings
        return node

    def forward(self, *xs):
        raise NotImplementedError(
            f"{type(self).__name__}: a Function subclass must define forward(self, *arrays)")

    def backward(self, *gys):
        raise NotImplementedError(
            f"{type(self).__name__}: a Function subclass must define backward(self, *grads)")

    def _release(self):
        """Free the buffers saved for backward (called after backward)."""
        fields = vars(self)
        settings = fields.get("_settings", ())
        for name in [n for n in fields if n not in _GRAPH_FIELDS and n not in settings]:
            delattr(self, name)
        self.released = True

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _record(node, tensors, results) -> None:
    """Make ``node`` the graph node of a call: inputs ``tensors``, outputs ``results``."""
    node.inputs = tensors
    node.needs_grad = tuple(t.requires_grad for t in tensors)
    node.generation = max(t.generation for t in tensors)
    # Weak references: the outputs own their grad_fn, not the reverse.
    node.outputs = [weakref.ref(r) for r in results]
    node.output_meta = [(r.data.shape, r.data.dtype) for r in results]
    node.released = False
    node._saved_versions = _saved_versions(node, tensors, results)
    for t in tensors:
        if t.grad_fn is not None:   # leaves are never changed in place under grad mode
            t._readers.append(weakref.ref(node))
    for r in results:
        r.grad_fn = node
        r.generation = node.generation + 1


# ----------------------------------------------------------- in-place ops
def _hand_over_history(x: "Tensor") -> "Tensor":
    """Before an in-place op on ``x``: a new Tensor ``before`` (the same array) takes
    x's place in the graph, so that x can become the in-place op's output.

    ``before`` gets x's grad_fn, generation and hooks (a hook registered before the
    change sees the gradient of the value before it, as in PyTorch); every node that
    already read x now reads ``before``, so its gradient flows to x's old producer.
    A node that *saved* x's array still checks x's version, which the in-place op
    bumps: its backward fails with the usual error.
    """
    before = Tensor.__new__(Tensor)
    before.__dict__.update(vars(x))
    before._readers = []
    before._retains_grad = False
    x._hooks = []
    node = x.grad_fn
    if node is not None:
        node.outputs = [weakref.ref(before) if ref() is x else ref for ref in node.outputs]
    for ref in x._readers:
        reader = ref()
        if reader is not None:
            reader.inputs = [before if t is x else t for t in reader.inputs]
            before._readers.append(ref)
    x._readers = []
    return before


def _call_in_place(node: "Function", x) -> "Tensor":
    """``Function.__call__`` of an ``in_place`` Function: run it on x's own array
    and return x.

    ``node.forward(array)`` writes its result into ``array`` and returns it.
    Afterwards x holds the result, its version is bumped, and, when the graph is
    recorded, x is the output of ``node``, whose input is x's old value
    (``_hand_over_history``).
    """
    name = type(node).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: an in-place op needs a Tensor to write into, got "
                        f"{type(x).__name__}; make one with minicnn.Tensor(...)")
    x._check_in_place(name)
    record = is_grad_enabled() and x.requires_grad
    before = _hand_over_history(x) if record else x
    y = node.forward(x.data)
    if y is not x.data:
        raise RuntimeError(f"{name}.forward returned a new array; an in-place forward "
                           "must write into its input and return it")
    x._bump_version()
    if record:
        _record(node, [before], [x])
    else:
        node._release()
    return x


def _check_forward_outputs(name: str, outputs: tuple) -> tuple:
    """Arrays only: a forward works on raw arrays and returns raw arrays."""
    if all(type(y) is numpy.ndarray for y in outputs):   # the common case, checked fast
        return outputs
    checked = []
    for i, y in enumerate(outputs):
        if isinstance(y, numpy.generic):      # x.sum() gives a NumPy scalar
            y = numpy.asarray(y)
        if not _is_array(y):
            what = "a Tensor (use .data, or xp functions on the arrays)" if isinstance(
                y, Tensor) else f"a {type(y).__name__}"
            raise TypeError(
                f"{name}.forward returned {what} as output {i}; forward must return an "
                "array or a tuple of arrays")
        checked.append(y)
    return tuple(checked)


def _saved_versions(node, tensors, results):
    """(tensor, version) for every input/output whose array the node saved, so
    backward can tell when one was changed in place after forward."""
    saved = {id(v) for k, v in vars(node).items() if k not in _GRAPH_FIELDS}
    return [(weakref.ref(t), t._version) for t in (*tensors, *results)
            if id(t.data) in saved]


def _check_versions(fn) -> None:
    for ref, version in fn._saved_versions:
        t = ref()
        if t is not None and t._version != version:
            raise RuntimeError(
                f"backward: a tensor of shape {t.shape} saved by {type(fn).__name__} for "
                f"backward was changed in place after forward (version {version} -> "
                f"{t._version}); change a copy instead, or run the in-place change after "
                "backward")


def _check_gradient(fn, i, x, gx):
    xdata = x.data
    if type(gx) is numpy.ndarray and gx.shape == xdata.shape and gx.dtype == xdata.dtype:
        return gx                                         # the common case, checked fast
    name = type(fn).__name__
    if isinstance(gx, Tensor):
        raise TypeError(
            f"{name}.backward returned a Tensor for input {i}; backward works on raw "
            "arrays: return an array (use .data)")
    if isinstance(gx, numpy.generic):
        gx = numpy.asarray(gx)
    if not _is_array(gx):
        raise TypeError(
            f"{name}.backward returned a {type(gx).__name__} for input {i}; expected an "
            f"array of shape {x.shape} (or None)")
    if tuple(gx.shape) != x.shape:
        raise RuntimeError(
            f"{name}.backward: gradient shape {tuple(gx.shape)} does not match input "
            f"{i}'s shape {x.shape}")
    if gx.dtype != x.dtype:
        raise TypeError(
            f"{name}.backward returned a {gx.dtype} gradient for input {i} of dtype "
            f"{x.dtype}; cast it with .astype(x.dtype)")
    return gx


def backward(output, grad, retain_graph: bool = False):
    """Back-propagate ``grad`` (d loss / d output) through the graph of ``output``.

    Gradients are summed per tensor in ``grads``. An intermediate tensor's sum
    is complete when its grad_fn comes off the heap (every deeper node has run);
    a leaf's at the end. That is when its hooks run, and when ``.grad`` is
    filled (leaves, and tensors that called ``retain_grad()``).
    """
    grads = {id(output): grad}
    tensors = {id(output): output}
    # Max-heap on generation: a node runs only after every node that feeds
    # gradient into its outputs (all of which are deeper) has run.
    heap, seen, counter = [], set(), 0

    def push(fn):
        nonlocal counter
        if id(fn) not in seen:
            if fn.released:
                raise RuntimeError(
                    f"backward: {type(fn).__name__} (generation {fn.generation}) was "
                    "already back-propagated and its saved buffers freed; pass "
                    "retain_graph=True to the first backward() to go through a graph twice")
            seen.add(id(fn))
            heapq.heappush(heap, (-fn.generation, counter, fn))
            counter += 1

    if output.grad_fn is not None:
        push(output.grad_fn)
    while heap:
        _, _, fn = heapq.heappop(heap)
        gys = []
        for ref in fn.outputs:
            out = ref()
            g = None if out is None else grads.pop(id(out), None)
            if g is not None:
                tensors.pop(id(out), None)
                g = out._run_hooks(g)
                if out._retains_grad:
                    out._accumulate_grad(g)
            gys.append(g)
        if all(g is None for g in gys):
            continue
        _check_versions(fn)
        gys = [_zeros_like_output(fn, i) if g is None else g for i, g in enumerate(gys)]
        gxs = fn.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(fn.inputs):
            raise RuntimeError(
                f"{type(fn).__name__}.backward returned {len(gxs)} gradients "
                f"for {len(fn.inputs)} inputs")
        for i, (x, gx) in enumerate(zip(fn.inputs, gxs)):
            if gx is None or not x.requires_grad:
                continue
            gx = _check_gradient(fn, i, x, gx)
            key = id(x)
            grads[key] = grads[key] + gx if key in grads else gx
            tensors[key] = x
            if x.grad_fn is not None:
                push(x.grad_fn)
        if not retain_graph:
            fn._release()
    # What is left are the leaves (and an output that is itself a leaf).
    for key, g in grads.items():
        leaf = tensors[key]
        if leaf.requires_grad and leaf.grad_fn is None:
            leaf._accumulate_grad(leaf._run_hooks(g))


def _zeros_like_output(fn, i):
    """Zero gradient for an output of a multi-output op that no path used."""
    xp = get_array_module(fn.inputs[0].data)
    shape, dtype = fn.output_meta[i]
    return xp.zeros(shape, dtype=dtype)
