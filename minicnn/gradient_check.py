"""Finite-difference gradient checking: the coursework tool.

``numerical_grad`` estimates d f / d x by central differences:

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)     error O(eps^2)

``gradcheck(fn, inputs)`` compares that estimate with the analytic gradient
from ``backward``. It contracts the output with a *random* upstream gradient
G and checks d<G, fn(x)>/dx: checking the plain sum of the outputs would be
vacuous for ops like BatchNorm, whose outputs always sum to the same value.
The difference f(x + eps e_i) - f(x - eps e_i) is taken output element by
output element before it is contracted with G, so the many outputs that a
perturbation leaves unchanged add no rounding noise.

How an element is judged
------------------------
The error of one element is CS231n's relative error, with a floor under the
denominator scaled by the largest gradient of the check:

    err_i = |a_i - n_i| / max(|a_i| + |n_i|,  FLOOR * max_j (|a_j| + |n_j|))

a: analytic gradient, n: numerical gradient, FLOOR = 1e-3, j over every
element of every checked input (all are derivatives of the same scalar
<G, f>). For every element whose gradient is at least 0.1 % of the largest,
this *is* CS231n's number. Below that, finite differences carry an absolute
rounding error (about 1e-16 |f| / eps) that would make a plain relative error
huge for a gradient that is truly ~0 (1e-12 against 3e-12 reads as 0.5; a
conv bias just before BatchNorm has a zero gradient); the floor judges those
elements against 0.1 % of the largest gradient instead. An input passes when
every element has ``err_i <= rtol``; gradcheck reports the maximum.

The scale (CS231n), for float64 and a smooth function:

    err > 1e-2          the gradient is almost surely wrong
    1e-4 < err < 1e-2   suspicious: wrong, or a kink (ReLU at 0, a max-pool tie)
    1e-7 < err < 1e-4   fine for functions with kinks, too high for smooth ones
    err < 1e-7          a correct gradient

``DEFAULT_RTOL`` = 1e-6, with the step ``DEFAULT_EPS`` = 1e-5, sits between
them. Both were calibrated, not guessed: with them every op of ``minicnn
gradcheck`` passes on 50 random draws of its inputs (worst error seen: 2e-8),
while a backward wrong by a factor 1.0002 (err 1e-4) fails by two orders of
magnitude; tests/test_gradient_check.py holds the calibration. The step 1e-5 (not
1e-6) is the float64 compromise between the truncation error of central
differences, O(eps^2), and their rounding error, O(1e-16 / eps). Kinks are the caller's to
avoid: draw inputs away from them, as the op suite does.

float32 inputs are checked too, with a warning: x +- eps is rounded to
float32's 6 significant digits and f(x + eps) - f(x - eps) cancels most of
the rest, so errors near 1e-2 are normal there (the classic lesson).

``gradcheck_graph(output)`` checks every node of a recorded graph (a whole
model) in float64 and names the first node whose backward is wrong.
"""
from __future__ import annotations

import copy
import dataclasses
import numbers
import warnings

import numpy

from minicnn import rng
from minicnn.autograd import Function, Tensor, enable_grad, no_grad
from minicnn.backend import get_array_module

__all__ = [
    "numerical_grad", "gradcheck", "gradcheck_graph", "GradcheckError", "GradcheckResult",
    "InputCheck", "GraphCheckResult", "NodeCheck", "relative_error",
    "DEFAULT_EPS", "DEFAULT_RTOL", "FLOOR",
]

# The finite-difference step and the pass threshold on the relative error,
# shared by gradcheck, gradcheck_graph, the CLI, the exercises grader and the
# docs. Calibrated, not guessed: see the module docstring.
DEFAULT_EPS = 1e-5
DEFAULT_RTOL = 1e-6
# Elements whose gradient is below FLOOR times the input's largest are judged
# against that floor instead of against themselves.
FLOOR = 1e-3


def relative_error(a, n, scale=None):
    """Elementwise error of analytic ``a`` against numerical ``n`` (the module's rule).

        err_i = |a_i - n_i| / max(|a_i| + |n_i|, FLOOR * scale)

    ``scale`` defaults to max_j (|a_j| + |n_j|) over the arrays given
    (gradcheck passes the largest over all its inputs); where a_i and n_i are
    both 0 the error is 0. For elements at least FLOOR of the
    largest this is CS231n's |a - n| / (|a| + |n|).
    """
    xp = get_array_module(a)
    a, n = xp.asarray(a, dtype=numpy.float64), xp.asarray(n, dtype=numpy.float64)
    size = xp.abs(a) + xp.abs(n)
    if scale is None:
        scale = float(size.max()) if size.size else 0.0
    denominator = xp.maximum(size, FLOOR * scale)
    # 0 / 0 only where a == n == 0 everywhere: that error is 0
    denominator = xp.maximum(denominator, numpy.finfo(numpy.float64).tiny)
    return xp.abs(a - n) / denominator


# ------------------------------------------------------------------ results
@dataclasses.dataclass
class InputCheck:
    """The verdict on one input of ``gradcheck``.

    ``worst_index`` is a tuple of plain ints (None when nothing was checked);
    ``analytic`` and ``numerical`` are the two gradients at that index.
    """

    index: int
    shape: tuple
    dtype: str
    checked: bool
    max_rel_error: float = 0.0
    n_checked: int = 0
    n_failed: int = 0
    worst_index: tuple | None = None
    analytic: float | None = None
    numerical: float | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.n_failed == 0


@dataclasses.dataclass
class GradcheckResult:
    """What ``gradcheck`` found: ``bool(result)`` is ``result.passed``.

    ``max_rel_error`` is the largest error over all inputs; ``inputs`` holds
    one ``InputCheck`` per input, in order. ``str(result)`` is a short table.
    """

    passed: bool
    max_rel_error: float
    inputs: list
    eps: float
    rtol: float

    def __bool__(self) -> bool:
        return self.passed

    def failure_line(self) -> str:
        """One line on the worst failing input ('' when it passed)."""
        failed = [c for c in self.inputs if c.checked and not c.passed]
        if not failed:
            return ""
        c = max(failed, key=lambda c: c.max_rel_error)
        return (f"gradcheck failed: input {c.index} (shape {c.shape}): {c.n_failed} of "
                f"{c.n_checked} elements above {self.rtol:.0e}; worst relative error "
                f"{c.max_rel_error:.3g} at index {c.worst_index}: analytic "
                f"{c.analytic:.10g} vs numerical {c.numerical:.10g}")

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"gradcheck {verdict}: max relative error {self.max_rel_error:.2e} "
                 f"(pass at or below {self.rtol:.0e}, eps {self.eps:.0e})"]
        header = (f"{'input':<7}{'shape':<14}{'dtype':<9}{'checked':>8}{'failed':>8}"
                  f"{'max rel. error':>16}  {'worst index':<16}{'analytic':>13}"
                  f"{'numerical':>13}")
        lines += [header, "-" * len(header)]
        for c in self.inputs:
            shape = "x".join(str(s) for s in c.shape) or "scalar"
            start = f"{c.index:<7}{shape:<14}{c.dtype:<9}"
            if not c.checked:
                lines.append(f"{start}not checked ({c.note})")
                continue
            lines.append(f"{start}{c.n_checked:>8}{c.n_failed:>8}{c.max_rel_error:>16.2e}  "
                         f"{str(c.worst_index):<16}{c.analytic:>13.6g}{c.numerical:>13.6g}")
        return "\n".join(lines)


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree; ``err.result`` has the details."""

    def __init__(self, result: GradcheckResult):
        self.result = result
        super().__init__(f"{result.failure_line()}\n{result}")


# ------------------------------------------------------------------ helpers
def _check_settings(name, eps, rtol):
    for label, value in (("eps", eps), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name}: {label} must be a positive number, got {value!r} "
                             f"(the defaults are eps={DEFAULT_EPS:g}, rtol={DEFAULT_RTOL:g})")


def _as_inputs(name, inputs):
    """The inputs as Tensors whose data ``numerical_grad`` may perturb and restore.

    A caller's leaf Tensor is used as it is (so a ``fn`` that reads the same
    tensors, e.g. a model's parameters, sees the perturbations); a non-leaf
    Tensor gets a leaf sharing its data, so backward stops there and the
    caller's graph is left alone. Arrays and lists keep a float dtype
    (Python floats become float64) and integer ones stay integer labels.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{name}: inputs must be a Tensor or a list of Tensors/arrays, got "
                        f"{type(inputs).__name__}; wrap a single input as [x]")
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor):
            t = x if x.creator is None else Tensor(x.data)
        else:
            array = numpy.asarray(x)
            if array.dtype.kind not in "fiub":
                raise TypeError(f"{name}: an input has dtype {array.dtype}; expected "
                                "float64 tensors (integer ones are held fixed)")
            t = Tensor(array)
        data = t.data
        if isinstance(data, numpy.ndarray) and not data.flags.writeable:
            t = Tensor(data.copy())  # perturbed in place below: read-only data is copied
        tensors.append(t)
    return tensors


def _warn_low_precision(name, tensors):
    for i, t in enumerate(tensors):
        if t.dtype.kind == "f" and t.dtype != numpy.float64:
            warnings.warn(
                f"{name}: input {i} is {t.dtype}; finite differences lose precision there: "
                f"x +- eps is rounded to {t.dtype}'s {numpy.finfo(t.dtype).precision} "
                "significant digits and f(x+eps) - f(x-eps) cancels most of the rest, so "
                "expect relative errors near 1e-2 even for a correct backward; use float64 "
                "(.double()) for a real check", UserWarning, stacklevel=3)


def _outputs(name, out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor) or o.dtype.kind != "f":
            raise TypeError(f"{name}: fn must return a float Tensor or a tuple of them, got "
                            f"{type(o).__name__}; build the result from the input Tensors")
    return outs


def _difference(fn, inputs, x, idx, eps, weight):
    """<weight, fn(x + eps e_idx) - fn(x - eps e_idx)> / (2 eps), restoring x."""
    data = x.data
    old = data[idx].item()
    try:
        data[idx] = old + eps
        plus = [o.data.copy() for o in _outputs("numerical_grad", fn(*inputs))]
        data[idx] = old - eps
        minus = [o.data.copy() for o in _outputs("numerical_grad", fn(*inputs))]
    finally:
        data[idx] = old
    # Difference first, then contract: outputs that did not move add no noise.
    total = 0.0
    for p, m, w in zip(plus, minus, weight):
        total += float((w * (p.astype(numpy.float64) - m)).sum())
    return total / (2 * eps)


def _numerical(fn, inputs, which, eps, weight):
    grads = [None] * len(inputs)
    with no_grad():
        for i in which:
            x = inputs[i]
            xp = get_array_module(x.data)
            g = xp.zeros(x.shape, dtype=numpy.float64)
            for idx in numpy.ndindex(*x.shape):
                g[idx] = _difference(fn, inputs, x, idx, eps, weight)
            grads[i] = g
    return grads


def numerical_grad(fn, inputs, eps: float = DEFAULT_EPS, weight=None):
    """Central-difference gradient of ``sum(weight * fn(*inputs))`` per input.

    Args:
        fn: a function of Tensors returning a Tensor (or a tuple of them).
        inputs: a Tensor or a sequence of Tensors/arrays, float64 (float32 warns).
        eps: the step.
        weight: the upstream gradient(s); defaults to ones (the plain sum).
    Returns:
        one float64 array per input, shaped like it (None for integer inputs).
        The inputs' data is perturbed in place one element at a time and
        restored exactly.
    """
    _check_settings("numerical_grad", eps, DEFAULT_RTOL)
    inputs = _as_inputs("numerical_grad", inputs)
    _warn_low_precision("numerical_grad", inputs)
    if weight is None:
        with no_grad():
            outs = _outputs("numerical_grad", fn(*inputs))
        weight = [numpy.ones(o.shape) for o in outs]
    weight = [get_array_module(inputs[0].data).asarray(w, dtype=numpy.float64)
              for w in weight]
    floats = [i for i, x in enumerate(inputs) if x.dtype.kind == "f"]
    return _numerical(fn, inputs, floats, eps, weight)


def _upstream_rng(seed):
    """The generator of the random upstream gradient G for ``seed``.

    Salted so that it is not ``default_rng(seed)``: inputs drawn from that
    same stream would make G equal x, and for BatchNorm <x, BN(x)> has a zero
    gradient (a check that reads 0 against rounding noise).
    """
    return numpy.random.default_rng([seed, 0x6772616463686B])


def _analytic(fn, inputs, which, seed):
    """Gradients of <G, fn(*inputs)> for inputs ``which`` by backward, and G.

    Each input's ``requires_grad`` and ``.grad`` are put back as they were.
    """
    saved = [(t.requires_grad, t.grad) for t in inputs]
    try:
        for i, t in enumerate(inputs):
            t.grad = None
            if i in which:
                t.requires_grad = True
        with enable_grad():
            outs = _outputs("gradcheck", fn(*inputs))
            generator = _upstream_rng(seed)
            weight = []
            loss = None
            for o in outs:
                xp = get_array_module(o.data)
                w = xp.asarray(generator.standard_normal(o.shape))
                weight.append(w)
                term = (o * Tensor(w.astype(o.dtype))).sum()
                loss = term if loss is None else loss + term
            if loss.requires_grad:
                loss.backward()
        grads = [None] * len(inputs)
        for i in which:
            t = inputs[i]
            xp = get_array_module(t.data)
            g = t.grad if t.grad is not None else xp.zeros(t.shape)
            grads[i] = g.astype(numpy.float64)  # a copy
        return grads, weight
    finally:
        for t, (requires_grad, grad) in zip(inputs, saved):
            t.requires_grad, t.grad = requires_grad, grad


def _judge(index, x, analytic, numeric, rtol, scale) -> InputCheck:
    err = relative_error(analytic, numeric, scale)
    flat = int(err.argmax()) if err.size else 0
    worst = tuple(int(i) for i in numpy.unravel_index(flat, x.shape)) if err.size else None
    return InputCheck(
        index=index, shape=x.shape, dtype=str(x.dtype), checked=True,
        max_rel_error=float(err.max()) if err.size else 0.0, n_checked=int(err.size),
        n_failed=int((err > rtol).sum()), worst_index=worst,
        analytic=float(analytic[worst]) if err.size else 0.0,
        numerical=float(numeric[worst]) if err.size else 0.0)


# ---------------------------------------------------------------- gradcheck
def gradcheck(fn, inputs, eps: float = DEFAULT_EPS, rtol: float | None = None,
              raise_on_failure: bool = True, *, seed: int = 0) -> GradcheckResult:
    """Check ``fn``'s analytic gradients against central differences.

    Args:
        fn: a function of Tensors returning a Tensor (or a tuple of them).
        inputs: a Tensor or a list of Tensors/arrays. Every float input with
            ``requires_grad`` is checked (every float input when none has
            it); integer inputs (labels) are held fixed.
        eps: the finite-difference step (``DEFAULT_EPS``).
        rtol: the largest relative error that passes (``DEFAULT_RTOL``); each
            element is judged by ``relative_error`` (see the module docstring).
        raise_on_failure: raise ``GradcheckError`` (``err.result`` holds the
            result) instead of returning a failed result.
        seed: seeds the random upstream gradient G.
    Returns:
        a ``GradcheckResult``; ``bool(result)`` is ``result.passed`` and
        ``print(result)`` shows the table to paste into a report.

    The caller's tensors come back as they were: ``requires_grad``, ``.grad``
    and the data (perturbed one element at a time, then restored exactly).
    float32 inputs are checked with a UserWarning (expect errors near 1e-2).
    """
    rtol = DEFAULT_RTOL if rtol is None else rtol
    _check_settings("gradcheck", eps, rtol)
    tensors = _as_inputs("gradcheck", inputs)
    floats = [i for i, t in enumerate(tensors) if t.dtype.kind == "f"]
    if not floats:
        raise ValueError("gradcheck: no floating-point input to check; give the inputs "
                         "as float64 Tensors, e.g. Tensor(numpy.random.randn(3, 4))")
    _warn_low_precision("gradcheck", tensors)
    which = [i for i in floats if tensors[i].requires_grad] or floats
    analytic, weight = _analytic(fn, tensors, which, seed)
    numeric = _numerical(fn, tensors, which, eps, weight)

    scale = max(float((abs(analytic[i]) + abs(numeric[i])).max(initial=0.0)) for i in which)
    checks = []
    for i, t in enumerate(tensors):
        if i in which:
            checks.append(_judge(i, t, analytic[i], numeric[i], rtol, scale))
            continue
        why = "integer, held fixed" if t.dtype.kind != "f" else "requires_grad=False"
        checks.append(InputCheck(index=i, shape=t.shape, dtype=str(t.dtype), checked=False,
                                 note=why))
    result = GradcheckResult(
        passed=all(c.passed for c in checks),
        max_rel_error=max(c.max_rel_error for c in checks if c.checked),
        inputs=checks, eps=float(eps), rtol=float(rtol))
    if raise_on_failure and not result.passed:
        raise GradcheckError(result)
    return result


# ----------------------------------------------------------- gradcheck_graph
@dataclasses.dataclass
class NodeCheck:
    """The verdict on one recorded Function node of a graph.

    ``status`` is 'ok', 'FAIL' or 'not checked'; ``n_kinks`` counts the
    elements found at a kink (see ``gradcheck_graph``), which are not in
    ``max_rel_error``; ``notes`` says what was held fixed or pinned.
    """

    position: int
    op: str
    output_shape: tuple
    status: str
    max_rel_error: float = 0.0
    n_checked: int = 0
    n_kinks: int = 0
    notes: str = ""
    node: Function | None = dataclasses.field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


class GraphCheckResult(list):
    """``NodeCheck``s in forward order; ``first_failure`` is the first failed one or None."""

    def __init__(self, checks, eps, rtol):
        super().__init__(checks)
        self.eps, self.rtol = eps, rtol

    @property
    def first_failure(self) -> NodeCheck | None:
        return next((c for c in self if not c.passed), None)

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        header = (f"{'#':>3}  {'op':<28}{'output shape':<16}{'checked':>8}{'kinks':>7}"
                  f"{'max rel. error':>16}  result")
        lines = [header, "-" * len(header)]
        for c in self:
            shape = "x".join(str(s) for s in c.output_shape) or "scalar"
            line = (f"{c.position:>3}  {c.op:<28}{shape:<16}{c.n_checked:>8}{c.n_kinks:>7}"
                    f"{c.max_rel_error:>16.2e}  {c.status}")
            lines.append(line + (f"  ({c.notes})" if c.notes else ""))
        failure = self.first_failure
        if failure is None:
            lines.append(f"all {len(self)} nodes pass (at or below {self.rtol:.0e}, "
                         f"eps {self.eps:.0e})")
        else:
            lines.append(f"first failure: node {failure.position}, {failure.op} (output "
                         f"{failure.output_shape}), max relative error "
                         f"{failure.max_rel_error:.2e} > {self.rtol:.0e}")
        return "\n".join(lines)


def _graph_nodes(output):
    """The Function nodes behind ``output``, in forward order, found iteratively."""
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck_graph: expected the output Tensor of a model, got "
                        f"{type(output).__name__}")
    if output.creator is None:
        raise ValueError("gradcheck_graph: this tensor has no recorded graph (a leaf, or "
                         "made under no_grad() or from inputs that do not require grad); "
                         "pass a model output computed with grad mode on")
    found, seen, stack = [], {id(output.creator)}, [output.creator]
    while stack:  # no recursion: a ResNet graph is hundreds of nodes deep
        node = stack.pop()
        if node.released:
            raise RuntimeError(
                "gradcheck_graph: this graph was already back-propagated and its saved "
                "buffers freed; call gradcheck_graph(output) before output.backward()")
        found.append(node)
        for t in node.inputs:
            if t.creator is not None and id(t.creator) not in seen:
                seen.add(id(t.creator))
                stack.append(t.creator)
    # Inputs have smaller generations than their consumers; among equals,
    # the walk from the output met the later node first.
    order = sorted(range(len(found)), key=lambda k: (found[k].generation, -k))
    return [found[k] for k in order]


def _replay(node, xs, rng_state):
    """Run a private copy of ``node`` on arrays ``xs``; returns (copy, output copies).

    The copy has its own copies of the node's array settings (BatchNorm's
    running statistics are updated in place by forward), and minicnn's
    generator restarts from ``rng_state``, so a random node (dropout) draws
    the same numbers on every replay.
    """
    f = copy.copy(node)
    for name, value in vars(node).items():
        if hasattr(value, "__array__") and hasattr(value, "copy") and name != "inputs":
            setattr(f, name, value.copy())
    rng.set_rng_state(rng_state)
    ys = f.forward(*xs)
    ys = ys if isinstance(ys, tuple) else (ys,)
    return f, [y.copy() for y in ys]  # copies: an output may be a view of an input


def _contract(gys, ys_a, ys_b):
    """<G, ys_a - ys_b> over every output, the difference taken elementwise first."""
    return sum(float((g * (a.astype(numpy.float64) - b)).sum())
               for g, a, b in zip(gys, ys_a, ys_b))


def _check_node(position, node, eps, rtol, max_elements, generator, rng_state):
    name = type(node).__name__
    shape = tuple(node.output_meta[0][0]) if node.output_meta else ()
    notes = []
    xs = []
    for t in node.inputs:
        xp = get_array_module(t.data)
        kind = t.data.dtype.kind
        xs.append(xp.array(t.data, dtype=numpy.float64) if kind == "f" else t.data.copy())
    for i, x in enumerate(xs):
        if x.dtype.kind != "f":
            notes.append(f"input {i} ({x.dtype}) held fixed")

    def check(status, **fields):
        return NodeCheck(position=position, op=name, output_shape=shape, status=status,
                         notes="; ".join(notes), node=node, **fields)

    f0, y0 = _replay(node, xs, rng_state)
    if rng.get_rng_state() != rng_state:
        notes.append("random: every replay draws from one pinned generator state")
    _, y0_again = _replay(node, xs, rng_state)
    if any(not bool((a == b).all()) for a, b in zip(y0, y0_again)):
        notes.append("forward is not reproducible")
        return check("not checked")
    gys = [get_array_module(y).asarray(generator.standard_normal(y.shape)) for y in y0]
    f0.needs_grad = tuple(x.dtype.kind == "f" for x in xs)  # every float input's gradient
    gxs = f0.backward(*gys)
    gxs = gxs if isinstance(gxs, tuple) else (gxs,)

    failed = False
    samples = []  # (analytic, central, forward, backward) at the picked elements
    for i, x in enumerate(xs):
        if x.dtype.kind != "f":
            continue
        a = gxs[i] if i < len(gxs) else None
        if a is None:
            if not node.needs_grad[i]:
                notes.append(f"input {i}: no gradient needed, none computed")
                continue
            a = get_array_module(x).zeros(x.shape)  # None reads as 0
        if tuple(a.shape) != tuple(x.shape):
            notes.append(f"input {i}: gradient shape {tuple(a.shape)}, expected "
                         f"{tuple(x.shape)}")
            failed = True
            continue
        picks = generator.choice(x.size, size=min(x.size, max_elements), replace=False)
        columns = ([], [], [], [])
        for flat in picks:
            idx = tuple(int(k) for k in numpy.unravel_index(flat, x.shape))
            old = x[idx].item()
            x[idx] = old + eps
            _, plus = _replay(node, xs, rng_state)
            x[idx] = old - eps
            _, minus = _replay(node, xs, rng_state)
            x[idx] = old
            columns[0].append(float(a[idx]))
            columns[1].append(_contract(gys, plus, minus) / (2 * eps))
            columns[2].append(_contract(gys, plus, y0) / eps)
            columns[3].append(_contract(gys, y0, minus) / eps)
        samples.append([numpy.array(c) for c in columns] + [2 * float(abs(a).max())])

    # the floor's scale: the largest gradient over the node's inputs, as in gradcheck
    scale = max([max(float((abs(s[0]) + abs(s[1])).max()), s[4]) for s in samples],
                default=0.0)
    worst, n_checked, n_kinks = 0.0, 0, 0
    for analytic, central, forward, backward, _ in samples:
        err = relative_error(analytic, central, scale)
        # A kink (ReLU at 0, a max-pool tie): the one-sided differences disagree
        # and the analytic gradient is one of them, a valid one-sided derivative.
        at_kink = ((err > rtol) & (relative_error(forward, backward, scale) > rtol)
                   & (numpy.minimum(relative_error(analytic, forward, scale),
                                    relative_error(analytic, backward, scale)) <= rtol))
        n_checked += len(err)
        n_kinks += int(at_kink.sum())
        judged = err[~at_kink]
        if judged.size:
            worst = max(worst, float(judged.max()))
            failed = failed or bool((judged > rtol).any())
    return check("FAIL" if failed else "ok", max_rel_error=worst, n_checked=n_checked,
                 n_kinks=n_kinks)


def gradcheck_graph(output, eps: float = DEFAULT_EPS, rtol: float | None = None,
                    max_elements: int = 16, seed: int = 0) -> GraphCheckResult:
    """Check the backward of every node of ``output``'s graph; find the first wrong one.

    Call it on a model's output (or loss) *before* ``backward()``, which frees
    the buffers the nodes saved. Each recorded Function node is re-run on
    float64 copies of its recorded inputs: its backward, under a random
    upstream gradient G, is compared with central differences of
    <G, forward(x)> at up to ``max_elements`` randomly chosen elements of each
    float input, judged like ``gradcheck`` (``relative_error``, ``rtol``).

    Non-smooth and random nodes are handled, not skipped:

    * kinks (ReLU at 0, max-pool ties such as a window of zeros after ReLU):
      where the one-sided differences (f(x+eps) - f(x))/eps and
      (f(x) - f(x-eps))/eps disagree and the analytic gradient equals one of
      them (a valid one-sided derivative), the element counts as a kink,
      shown in the ``kinks`` column and left out of ``max_rel_error``;
    * random nodes (dropout): every replay restarts minicnn's generator from
      one saved state, so all perturbed forwards use the same mask and the
      backward is checked against it (noted in the table); a node whose
      forward still differs between two replays is 'not checked';
    * integer inputs (labels) are held fixed and noted.

    Returns a ``GraphCheckResult``: a list of ``NodeCheck`` in forward order
    (op name, output shape, max relative error, status), with
    ``first_failure``; ``print`` it for the table. The graph, the model's
    running statistics and minicnn's random state are left as they were.
    """
    rtol = DEFAULT_RTOL if rtol is None else rtol
    _check_settings("gradcheck_graph", eps, rtol)
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) \
            or max_elements < 1:
        raise ValueError(f"gradcheck_graph: max_elements must be a positive int, got "
                         f"{max_elements!r}")
    nodes = _graph_nodes(output)
    generator = _upstream_rng(seed)
    state = rng.get_rng_state()
    try:
        with no_grad():
            checks = [_check_node(k, node, eps, rtol, max_elements, generator, state)
                      for k, node in enumerate(nodes)]
    finally:
        rng.set_rng_state(state)
    return GraphCheckResult(checks, float(eps), float(rtol))
