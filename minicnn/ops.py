"""The primitive ops behind Tensor's operators: arithmetic, reductions, shapes.

Each op is a Function with ``forward`` and ``backward`` side by side, then a
lowercase wrapper. Broadcasting follows NumPy; the gradient of a broadcast
operand is summed back to its own shape (``sum_to``).
"""
from __future__ import annotations

import builtins

import numpy

from minicnn.autograd import DEFAULT_DTYPE, Function, Tensor, as_tensor
from minicnn.backend import check_backend, cupy_module, get_array_module

__all__ = [
    "sum_to", "add", "sub", "mul", "div", "pow", "neg", "matmul", "exp", "log",
    "sqrt", "abs", "clip", "sum", "mean", "max", "reshape", "transpose", "permute",
    "getitem", "broadcast_to", "cast", "to_device", "to", "argmax", "any", "all",
    "result_type",
    "eq", "ne", "lt", "le", "gt", "ge",
]


def sum_to(g, shape):
    """Sum gradient ``g`` down to ``shape``: the backward of broadcasting.

    Broadcasting copies an operand along (1) new leading axes and (2) axes of
    size 1; each copy received gradient, so we add them up along those axes.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# ------------------------------------------------------------ type promotion
# PyTorch's rules, by kind: bool < integer < float.
#   tensor with tensor: the higher kind wins; within a kind, the wider dtype
#     (uint8 + int8 -> int16, float32 + float64 -> float64).
#   tensor with a Python number (or a NumPy array/scalar, treated the same):
#     the tensor's dtype, unless the number is of a higher kind; then the
#     default dtype of that kind (int tensor * 0.5 -> float32).
#   true division always gives a float.
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}
_DEFAULT_OF_KIND = {0: numpy.dtype(numpy.bool_), 1: numpy.dtype(numpy.int64),
                    2: numpy.dtype(DEFAULT_DTYPE)}


def _rank(dtype) -> int:
    return _KIND_RANK.get(dtype.kind, 2)


# The kind a Python number brings: bool < int < float (their exact type counts, as
# bool is an int subclass).
_PYTHON_RANK = {bool: 0, int: 1, float: 2}


def result_type(a, b) -> numpy.dtype:
    """The dtype of ``a op b`` by PyTorch's promotion rules (one of them a Tensor)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        da, db = a.data.dtype, b.data.dtype
        if da == db:
            return da
        ra, rb = _rank(da), _rank(db)
        if ra == rb:
            return numpy.promote_types(da, db)
        return da if ra > rb else db
    tensor, other = (a, b) if isinstance(a, Tensor) else (b, a)
    dtype = tensor.data.dtype
    r_other = _PYTHON_RANK.get(type(other))
    if r_other is None:
        r_other = _rank(_weak_dtype(other))
    if r_other > _rank(dtype):
        return _DEFAULT_OF_KIND[r_other]
    return dtype


def _weak_dtype(x) -> numpy.dtype:
    """The dtype a non-Tensor operand (an array, a NumPy scalar, a list) brings;
    only its kind counts."""
    dtype = getattr(x, "dtype", None)
    return numpy.dtype(dtype) if dtype is not None else numpy.asarray(x).dtype


def _as_dtype(x, dtype, like: Tensor):
    """``x`` (a Tensor, number or array) as a Tensor of ``dtype`` on ``like``'s device."""
    if isinstance(x, Tensor):
        return x if x.data.dtype == dtype else Cast(dtype)(x)
    xp = get_array_module(like.data)
    try:
        return Tensor(xp.asarray(x, dtype=dtype))
    except OverflowError:
        raise OverflowError(
            f"{x!r} does not fit the tensor's dtype {numpy.dtype(dtype)}; convert the "
            "tensor first, e.g. t.to(numpy.int64) or t.float()") from None


def _binary(a, b, dtype=None):
    """Two operands as tensors of one dtype, by PyTorch's promotion rules."""
    like = a if isinstance(a, Tensor) else b
    dtype = result_type(a, b) if dtype is None else dtype
    return _as_dtype(a, dtype, like), _as_dtype(b, dtype, like)


def _check_no_wraparound(op, result, a, b, compute):
    """Integer results narrower than int64 must not have wrapped around (uint8
    image arithmetic): recompute in int64 and compare."""
    dtype = result.dtype
    if dtype.kind not in "iu" or dtype.itemsize >= 8:
        return result
    exact = compute(a.data.astype(numpy.int64), b.data.astype(numpy.int64))
    info = numpy.iinfo(dtype)
    xp = get_array_module(exact)
    if exact.size and bool(xp.any((exact < info.min) | (exact > info.max))):
        raise OverflowError(
            f"{op}: the result does not fit {dtype} ({info.min}..{info.max}) and would "
            f"wrap around; convert first, e.g. t.float() or t.to(numpy.int64)")
    return result


def _check_broadcast(op, a, b):
    try:
        numpy.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.a_shape), sum_to(gy, self.b_shape)


class Sub(Function):
    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.a_shape), sum_to(-gy, self.b_shape)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        # d(ab)/da = b, d(ab)/db = a
        ga = sum_to(gy * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * self.a, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = sum_to(gy / self.b, self.a.shape) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            gb = sum_to(-gy * self.a / (self.b * self.b), self.b.shape)
        return ga, gb


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, gy):
        # d(a^b)/da = b a^(b-1);  d(a^b)/db = a^b ln a  (defined for a > 0)
        xp = get_array_module(gy)
        ga = gb = None
        if self.needs_grad[0]:
            ga = sum_to(gy * self.b * self.a ** (self.b - 1), self.a.shape)
        if self.needs_grad[1]:
            log_a = xp.log(xp.where(self.a > 0, self.a, 1))
            gb = sum_to(gy * self.y * log_a, self.b.shape)
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class MatMul(Function):
    """``a @ b`` with NumPy's rules: 1-D operands are vectors, leading axes broadcast.

    a: (..., N, K), b: (..., K, M) -> y: (..., N, M)
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        # y = a b  =>  ga = gy b^T,  gb = a^T gy  (then un-broadcast the batch axes)
        xp = get_array_module(gy)
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a           # (K,) -> (1, K)
        b2 = b[:, None] if b.ndim == 1 else b           # (K,) -> (K, 1)
        g2 = gy
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)                 # restore the N=1 axis
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)                 # restore the M=1 axis
        ga = gb = None
        if self.needs_grad[0]:
            ga = g2 @ xp.swapaxes(b2, -1, -2)
            ga = sum_to(ga, a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = xp.swapaxes(a2, -1, -2) @ g2
            gb = sum_to(gb, b2.shape).reshape(b.shape)
        return ga, gb


def add(a, b):
    a, b = _binary(a, b)
    _check_broadcast("add", a, b)
    return _check_no_wraparound("add", Add()(a, b), a, b, lambda p, q: p + q)


def sub(a, b):
    a, b = _binary(a, b)
    _check_broadcast("sub", a, b)
    return _check_no_wraparound("sub", Sub()(a, b), a, b, lambda p, q: p - q)


def mul(a, b):
    a, b = _binary(a, b)
    _check_broadcast("mul", a, b)
    return _check_no_wraparound("mul", Mul()(a, b), a, b, lambda p, q: p * q)


def div(a, b):
    """True division: integer operands give the default float, as in PyTorch."""
    dtype = result_type(a, b)
    a, b = _binary(a, b, dtype if dtype.kind == "f" else numpy.dtype(DEFAULT_DTYPE))
    _check_broadcast("div", a, b)
    return Div()(a, b)


def pow(a, b):
    a, b = _binary(a, b)
    _check_broadcast("pow", a, b)
    return _check_no_wraparound("pow", Pow()(a, b), a, b, lambda p, q: p ** q)


def neg(x):
    return Neg()(x)


def matmul(a, b):
    a, b = _binary(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                         f"({k_a} != {k_b})")
    return MatMul()(a, b)


# ------------------------------------------------------------ elementwise math
class Exp(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y                      # d e^x / dx = e^x


class Log(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x                      # d ln x / dx = 1/x


class Sqrt(Function):
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)                # d sqrt(x)/dx = 1 / (2 sqrt(x))


class Abs(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * get_array_module(gy).sign(self.x)   # 0 at x = 0, as PyTorch


class Clip(Function):
    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        self.x = x
        return get_array_module(x).clip(x, self.low, self.high)

    def backward(self, gy):
        # gradient passes where the input was inside [low, high]
        inside = numpy.bool_(True)
        if self.low is not None:
            inside = inside & (self.x >= self.low)
        if self.high is not None:
            inside = inside & (self.x <= self.high)
        return gy * inside


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):
    return Abs()(x)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max)(x)


# ------------------------------------------------------------------ reductions
def _norm_axis(op, axis, ndim):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with "
                             f"{ndim} dimensions")
    return tuple(a % builtins.max(ndim, 1) for a in axes)


def _expand_reduced(g, in_shape, axis, keepdims):
    """Give a reduced gradient back its reduced axes as size 1, for broadcasting."""
    if axis is None or keepdims:
        return g.reshape([1] * len(in_shape)) if axis is None and not keepdims else g
    shape = list(in_shape)
    for a in axis:
        shape[a] = 1
    return g.reshape(shape)


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        # every summed element gets the output's gradient: broadcast it back
        xp = get_array_module(gy)
        gy = _expand_reduced(gy, self.x_shape, self.axis, self.keepdims)
        return xp.broadcast_to(gy, self.x_shape).copy()


class Max(Function):
    """Maximum over ``axis``; ties share the gradient equally (as torch.amax)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.y = x.max(axis=self.axis, keepdims=True)
        if self.keepdims:
            return self.y
        axes = range(x.ndim) if self.axis is None else self.axis
        return self.y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        # d max / dx_i = [x_i == max] / (number of maxima)
        gy = _expand_reduced(gy, self.x.shape, self.axis, self.keepdims)
        mask = self.x == self.y
        count = mask.sum(axis=self.axis, keepdims=True)
        return gy * mask / count.astype(self.x.dtype)


def sum(x, axis=None, keepdims=False, dim=None):
    """Sum over ``axis`` (``dim`` is accepted as PyTorch's name for it)."""
    x = as_tensor(x)
    axis = _norm_axis("sum", dim if dim is not None else axis, x.ndim)
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False, dim=None):
    """Mean over ``axis``: a sum divided by the count (its gradient comes free)."""
    x = as_tensor(x)
    axis = _norm_axis("mean", dim if dim is not None else axis, x.ndim)
    count = x.size if axis is None else int(numpy.prod([x.shape[a] for a in axis]))
    return Sum(axis, keepdims)(x) / count


def max(x, axis=None, keepdims=False, dim=None):
    """Maximum values over ``axis`` (values only; use ``argmax`` for indices)."""
    x = as_tensor(x)
    axis = _norm_axis("max", dim if dim is not None else axis, x.ndim)
    if x.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    return Max(axis, keepdims)(x)


def any(x, axis=None, dim=None):
    """True where any element along ``axis`` is nonzero (no gradient)."""
    axis = dim if dim is not None else axis
    return Tensor(x.data.any(axis=axis))


def all(x, axis=None, dim=None):
    """True where every element along ``axis`` is nonzero (no gradient)."""
    axis = dim if dim is not None else axis
    return Tensor(x.data.all(axis=axis))


def argmax(x, axis=None, dim=None):
    """Indices of the maxima (no gradient)."""
    axis = dim if dim is not None else axis
    return Tensor(x.data.argmax(axis=axis))


# ---------------------------------------------------------------------- shapes
class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        # the inverse permutation puts every axis back where it came from
        inverse = numpy.argsort(self.axes)
        return gy.transpose(tuple(int(i) for i in inverse))


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        # scatter-add: an element picked twice by fancy indexing gets both gradients
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.x_dtype)
        xp.add.at(gx, self.index, gy)
        return gx


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape).copy()

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.x_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.x_dtype)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        return _move(x, self.device)

    def backward(self, gy):
        return _move(gy, "cpu" if self.device == "cuda" else "cuda")


def _move(array, device):
    if device == "cpu":
        return array.get() if hasattr(array, "get") else array
    check_backend("cuda")
    return cupy_module().asarray(array)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``."""
    shape = _shape_arg(shape)
    try:
        numpy.empty(x.shape, dtype=numpy.bool_).reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.size} elements) into {shape}") from None
    return Reshape(shape)(x)


def permute(x, *dims):
    """Reorder the axes: ``x.permute(0, 2, 3, 1)`` turns NCHW into NHWC."""
    dims = _shape_arg(dims)
    if sorted(d % builtins.max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} axes of "
                         f"a tensor of shape {x.shape}")
    return Transpose(tuple(d % x.ndim for d in dims))(x)


def transpose(x, dim0=None, dim1=None):
    """PyTorch's ``transpose(dim0, dim1)`` swaps two axes; no arguments reverses all."""
    if dim0 is None and dim1 is None:
        return Transpose(tuple(reversed(range(x.ndim))))(x)
    if dim0 is None or dim1 is None:
        raise ValueError("transpose: give both dim0 and dim1, or neither")
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Transpose(tuple(axes))(x)


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    try:
        numpy.empty(x.shape, dtype=numpy.bool_)[_host_index(index)]
    except IndexError as e:
        raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None
    return GetItem(index)(x)


def _host_index(index):
    """The index with any CuPy arrays copied to the host, for shape checking."""
    if isinstance(index, tuple):
        return tuple(_host_index(i) for i in index)
    return index.get() if hasattr(index, "get") else index


def broadcast_to(x, shape):
    return BroadcastTo(tuple(shape))(x)


def cast(x, dtype):
    dtype = numpy.dtype(dtype)
    if dtype == x.dtype:
        return x
    return Cast(dtype)(x)


def to_device(x, device):
    return ToDevice(device)(x)


def to(x, target):
    """``x.to(dtype)`` casts (with gradient); ``x.to('cpu'|'cuda')`` moves the data."""
    if isinstance(target, str) and target in ("cpu", "cuda"):
        if target == x.device:
            return x
        return to_device(x, target)
    try:
        dtype = numpy.dtype(target)
    except TypeError:
        raise ValueError(
            f"to: unknown target {target!r}; expected 'cpu', 'cuda' (the GPU) or a dtype "
            "such as numpy.float32") from None
    return cast(x, dtype)


# ------------------------------------------------------- comparisons (no grad)
def _compare(name, a, b):
    a, b = _binary(a, b)
    _check_broadcast(name, a, b)
    xp = get_array_module(a.data)
    return Tensor(getattr(xp, name)(a.data, b.data))


def eq(a, b):
    return _compare("equal", a, b)


def ne(a, b):
    return _compare("not_equal", a, b)


def lt(a, b):
    return _compare("less", a, b)


def le(a, b):
    return _compare("less_equal", a, b)


def gt(a, b):
    return _compare("greater", a, b)


def ge(a, b):
    return _compare("greater_equal", a, b)


# --------------------------------------------------- Tensor's operators
def _install_operators() -> None:
    """The operator overloads and tensor methods, in one explicit list (DeZero's
    setup_variable): Tensor is defined in minicnn.autograd, its maths here."""
    Tensor.__add__ = add
    Tensor.__radd__ = lambda self, other: add(other, self)
    Tensor.__sub__ = sub
    Tensor.__rsub__ = lambda self, other: sub(other, self)
    Tensor.__mul__ = mul
    Tensor.__rmul__ = lambda self, other: mul(other, self)
    Tensor.__truediv__ = div
    Tensor.__rtruediv__ = lambda self, other: div(other, self)
    Tensor.__matmul__ = matmul
    Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
    Tensor.__pow__ = pow
    Tensor.__rpow__ = lambda self, other: pow(other, self)
    Tensor.__neg__ = neg
    Tensor.__getitem__ = getitem
    Tensor.__eq__ = eq
    Tensor.__ne__ = ne
    Tensor.__lt__ = lt
    Tensor.__le__ = le
    Tensor.__gt__ = gt
    Tensor.__ge__ = ge
    Tensor.reshape = reshape
    Tensor.view = reshape
    Tensor.transpose = transpose
    Tensor.permute = permute
    Tensor.sum = sum
    Tensor.mean = mean
    Tensor.max = max
    Tensor.exp = exp
    Tensor.log = log
    Tensor.sqrt = sqrt
    Tensor.abs = abs
    Tensor.clip = clip
    Tensor.clamp = clip
    Tensor.argmax = argmax
    Tensor.any = any
    Tensor.all = all
    Tensor.to = to


_install_operators()
