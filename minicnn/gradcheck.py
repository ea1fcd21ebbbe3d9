"""Finite-difference gradient checking: the coursework tool.

``numerical_grad`` estimates d f / d x by central differences in float64:

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)     error O(eps^2)

``gradcheck`` compares that estimate with the analytic gradient from
``backward``. It contracts the output with a *random* upstream gradient G,
checking d<G, f(x)>/dx: checking the plain sum of the outputs would be vacuous
for ops like BatchNorm, whose outputs always sum to the same value.

The reported error is CS231n's relative error |a - n| / max(1e-8, |a| + |n|):
below ~1e-7 is excellent in float64, above ~1e-2 is almost surely a bug.
"""
from __future__ import annotations

import numpy

from minicnn.autograd import Tensor, no_grad
from minicnn.backend import get_array_module

__all__ = [
    "numerical_grad", "gradcheck", "GradcheckError", "relative_error",
    "DEFAULT_EPS", "DEFAULT_RTOL",
]

# The finite-difference step and the pass threshold on the relative error,
# shared by gradcheck, the CLI, the exercises grader and the docs.
DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-5


class GradcheckError(AssertionError):
    """The analytic and numerical gradients of an input disagree."""


def relative_error(a, n):
    """CS231n's elementwise relative error |a - n| / max(1e-8, |a| + |n|)."""
    xp = get_array_module(a)
    return xp.abs(a - n) / xp.maximum(1e-8, xp.abs(a) + xp.abs(n))


def _as_inputs(inputs):
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    return [x if isinstance(x, Tensor) else Tensor(numpy.asarray(x, dtype=numpy.float64))
            for x in inputs]


def _check_float64(name, inputs):
    for i, x in enumerate(inputs):
        if x.dtype != numpy.float64:
            raise TypeError(f"{name}: input {i} has dtype {x.dtype}; finite differences "
                            "need float64 (use .double() or an array of float64)")


def _output_value(fn, inputs, weight):
    """<weight, fn(*inputs)> as a float (the scalar whose gradient we check)."""
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = 0.0
    for o, w in zip(outs, weight):
        total += float((o.data * w).sum())
    return total


def numerical_grad(fn, inputs, eps: float = 1e-6, weight=None):
    """Central-difference gradient of ``sum(weight * fn(*inputs))`` per input.

    Args:
        fn: a function of Tensors returning a Tensor (or a tuple of them).
        inputs: a Tensor or a sequence of Tensors/arrays, float64.
        eps: the step.
        weight: the upstream gradient(s); defaults to ones (the plain sum).
    Returns:
        one array per input, shaped like it (None for integer inputs).
    """
    inputs = _as_inputs(inputs)
    _check_float64("numerical_grad", inputs)
    with no_grad():
        if weight is None:
            out = fn(*inputs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            weight = [numpy.ones_like(o.numpy()) for o in outs]
        grads = []
        for x in inputs:
            if x.dtype.kind != "f":  # integer labels and masks have no gradient
                grads.append(None)
                continue
            xp = get_array_module(x.data)
            g = xp.zeros_like(x.data)
            flat, gflat = x.data.reshape(-1), g.reshape(-1)
            for i in range(flat.size):
                old = float(flat[i])
                flat[i] = old + eps
                f_plus = _output_value(fn, inputs, weight)
                flat[i] = old - eps
                f_minus = _output_value(fn, inputs, weight)
                flat[i] = old
                gflat[i] = (f_plus - f_minus) / (2 * eps)
            grads.append(g)
    return grads


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check ``fn``'s analytic gradients against finite differences.

    Every float input that has ``requires_grad`` is checked (all float inputs
    when none has it). Returns True, or raises GradcheckError naming the input,
    the worst index, both values and the relative error.
    """
    inputs = _as_inputs(inputs)
    _check_float64("gradcheck", [x for x in inputs if x.dtype.kind == "f"])
    checked = [i for i, x in enumerate(inputs) if x.requires_grad]
    if not checked:
        checked = [i for i, x in enumerate(inputs) if x.dtype.kind == "f"]
        for i in checked:
            inputs[i].requires_grad = True
    for x in inputs:
        x.grad = None

    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    rng = numpy.random.default_rng(seed)
    weight = [rng.standard_normal(o.shape) for o in outs]
    loss = None
    for o, w in zip(outs, weight):
        xp = get_array_module(o.data)
        term = (o * Tensor(xp.asarray(w, dtype=o.dtype))).sum()
        loss = term if loss is None else loss + term
    loss.backward()

    numeric = numerical_grad(fn, inputs, eps, weight)
    for i in checked:
        xp = get_array_module(inputs[i].data)
        analytic = inputs[i].grad if inputs[i].grad is not None else xp.zeros_like(
            inputs[i].data)
        n = numeric[i]
        close = xp.abs(analytic - n) <= atol + rtol * xp.abs(n)
        if not bool(close.all()):
            err = relative_error(analytic, n)
            bad = xp.where(close, -1.0, err)
            worst = numpy.unravel_index(int(bad.argmax()), n.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {inputs[i].shape}) at index {worst}: "
                f"analytic {float(analytic[worst]):.10g} vs numerical "
                f"{float(n[worst]):.10g}, relative error {float(err[worst]):.3g}")
    return True
