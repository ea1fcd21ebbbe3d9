"""The Tensor: an array, its gradient, and the op that made it.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()          # builds a graph: Mul -> Sum
    >>> y.backward()               # walks it back: dy/dx = 2x
    >>> x.grad
    array([[2., 4.],
           [6., 8.]], dtype=float32)

``data`` is a NumPy array (or a CuPy array on the GPU). ``grad`` is a plain
array of the same shape, dtype and backend, or None until backward reaches it.
float32 is the default dtype; float64 works everywhere (gradient checks).
"""
from __future__ import annotations

import numpy

from minicnn import autograd
from minicnn.backend import get_array_module, is_cupy_array

__all__ = ["Tensor", "as_tensor", "check_same_kind", "DEFAULT_DTYPE"]

DEFAULT_DTYPE = numpy.float32


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
        autograd.backward(self, grad, retain_graph=retain_graph)

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

    def to(self, target) -> "Tensor":
        """``to(dtype)`` casts (with gradient); ``to('cpu'|'cuda')`` moves the data."""
        from minicnn import ops
        if target in ("cpu", "cuda"):
            if target == self.device:
                return self
            return ops.to_device(self, target)
        return ops.cast(self, target)

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


def _install_operators() -> None:
    """The operator overloads, in one explicit list (ops.py holds the maths)."""
    from minicnn import ops

    Tensor.__add__ = ops.add
    Tensor.__radd__ = lambda self, other: ops.add(other, self)
    Tensor.__sub__ = ops.sub
    Tensor.__rsub__ = lambda self, other: ops.sub(other, self)
    Tensor.__mul__ = ops.mul
    Tensor.__rmul__ = lambda self, other: ops.mul(other, self)
    Tensor.__truediv__ = ops.div
    Tensor.__rtruediv__ = lambda self, other: ops.div(other, self)
    Tensor.__matmul__ = ops.matmul
    Tensor.__rmatmul__ = lambda self, other: ops.matmul(other, self)
    Tensor.__pow__ = ops.pow
    Tensor.__rpow__ = lambda self, other: ops.pow(other, self)
    Tensor.__neg__ = ops.neg
    Tensor.__getitem__ = ops.getitem
    Tensor.__eq__ = ops.eq
    Tensor.__ne__ = ops.ne
    Tensor.__lt__ = ops.lt
    Tensor.__le__ = ops.le
    Tensor.__gt__ = ops.gt
    Tensor.__ge__ = ops.ge
    Tensor.reshape = ops.reshape
    Tensor.view = ops.reshape
    Tensor.transpose = ops.transpose
    Tensor.permute = ops.permute
    Tensor.sum = ops.sum
    Tensor.mean = ops.mean
    Tensor.max = ops.max
    Tensor.exp = ops.exp
    Tensor.log = ops.log
    Tensor.sqrt = ops.sqrt
    Tensor.abs = ops.abs
    Tensor.clip = ops.clip
    Tensor.clamp = ops.clip
    Tensor.argmax = ops.argmax


_install_operators()
