"""The grader's tools: compare a student's array with the engine's, and explain the gap.

A test is a function ``test(student, tally)``: it calls the student's
functions through ``student`` (a ``sandbox.StudentProcess``), compares each
result with ``tally.compare`` and stops at the first case that fails by raising
``Failure`` with the case (shapes and parameters), the largest relative error
and a hint. ``run_test`` turns that, a student's exception, an unfinished
skeleton or a time-out into one result dict of the report.

Every comparison uses the definitions of ``minicnn.gradient_check``: CS231n's
elementwise relative error ``|a - n| / max(1e-8, |a| + |n|)`` (``relative_error``),
whose maximum must stay below ``DEFAULT_RTOL``; finite differences use the step
``DEFAULT_EPS``.
"""
from __future__ import annotations

import numpy

from minicnn.exercises.sandbox import (
    StudentError,
    StudentNotImplemented,
    StudentTimeout,
    Unsupported,
)
from minicnn.gradient_check import DEFAULT_EPS, DEFAULT_RTOL, relative_error

__all__ = ["Failure", "Tally", "diagnose", "numerical_gradient", "run_test", "threshold"]


def threshold() -> float:
    """The pass threshold on the max relative error: minicnn.gradient_check.DEFAULT_RTOL."""
    return float(DEFAULT_RTOL)


class Failure(Exception):
    """One test failed on ``case``; ``hint`` names the likely mistake."""

    def __init__(self, message, case=None, max_rel_error=None, hint=None):
        super().__init__(message)
        self.message = message
        self.case = case
        self.max_rel_error = max_rel_error
        self.hint = hint


def _max_relative_error(got, expected) -> float:
    if got.size == 0:
        return 0.0
    return float(relative_error(got.astype(numpy.float64),
                                          expected.astype(numpy.float64)).max())


def _close(a, b) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def diagnose(what, got, expected, N=None, mistakes=()) -> str:
    """The likeliest reason why ``got`` differs from ``expected`` (same shapes).

    ``mistakes`` lists (hint, array): what a known wrong solution returns; the
    first one ``got`` matches gives its hint. Then a constant factor (the batch
    size, its inverse, -1) and finally where the largest difference is.
    """
    for hint, wrong in mistakes:
        if wrong is not None and numpy.shape(wrong) == got.shape and \
                numpy.all(numpy.isfinite(wrong)) and \
                _max_relative_error(got, numpy.asarray(wrong)) <= threshold():
            return hint
    denominator = float((expected * expected).sum())
    if denominator > 0:
        c = float((got * expected).sum()) / denominator
        if c != 0 and _max_relative_error(got, c * expected) <= threshold():
            if N is not None and N > 1 and _close(c, N):
                return (f"{what} is off by a factor equal to the batch size (N={N}): "
                        "you sum over the batch where the formula averages (a missing "
                        "division by N)")
            if N is not None and N > 1 and _close(c, 1 / N):
                return (f"{what} is off by a factor 1/N, the batch size (N={N}): you "
                        "average over the batch (or divide by N) where the formula sums")
            if _close(c, -1):
                return f"{what} has the wrong sign"
            return f"{what} is off by a constant factor of {c:.6g}"
    err = relative_error(got, expected)
    worst = tuple(int(i) for i in numpy.unravel_index(int(err.argmax()), err.shape))
    return (f"the largest error in {what} is at index {worst}: yours {got[worst]:.6g}, "
            f"expected {expected[worst]:.6g}")


def _shape_hint(what, got_shape, expected_shape, shape_hints=()):
    for hint, shape in shape_hints:
        if tuple(shape) == tuple(got_shape):
            return hint
    if len(got_shape) == 2 and tuple(got_shape) == tuple(expected_shape)[::-1]:
        return f"{what} is transposed: a missing (or extra) .T"
    return f"{what} must have the shape of what it is the gradient of, or the formula's shape"


class Tally:
    """The largest relative error seen by one test, and the comparison itself."""

    def __init__(self):
        self.max_rel_error = None  # None until values are compared

    def compare(self, what, got, expected, case, N=None, mistakes=(), shape_hints=(),
                hint=None, values=True):
        """Check one of the student's arrays against the engine's ``expected``.

        Order: the type, the shape, the dtype (float64), finiteness, then the
        values; raises Failure naming ``what`` and the ``case`` at the first gap.
        ``hint`` replaces the diagnosis of a value mismatch when given; with
        ``values=False`` only the type, shape and dtype are checked.
        """
        expected = numpy.asarray(expected)
        if isinstance(got, Unsupported) or not isinstance(got, (numpy.ndarray, float, int)):
            raise Failure(f"{what}: expected a numpy array, got {got!r}", case,
                          hint="return a numpy.ndarray (check what each function returns)")
        got = numpy.asarray(got)
        if got.shape != expected.shape:
            raise Failure(f"{what}: expected shape {expected.shape}, got {got.shape}", case,
                          hint=_shape_hint(what, got.shape, expected.shape, shape_hints))
        if got.dtype != numpy.float64:
            raise Failure(f"{what}: expected dtype float64, got {got.dtype}", case,
                          hint="compute in float64: an array made with dtype=int, "
                          "float32 or bool somewhere (np.zeros_like of an int array?)")
        if not values:
            return got
        if not numpy.all(numpy.isfinite(got)):
            raise Failure(f"{what}: contains NaN or infinity", case,
                          hint=hint or "an overflow (exp of a large number?) or a "
                          "division by zero")
        err = _max_relative_error(got, expected)
        self.max_rel_error = err if self.max_rel_error is None else max(self.max_rel_error,
                                                                         err)
        if err > threshold():
            raise Failure(f"{what}: max relative error {err:.3g} > {threshold():g}", case,
                          max_rel_error=err,
                          hint=diagnose(what, got, expected, N, mistakes) if hint is None
                          else hint)
        return got

    def check(self, condition, message, case, hint):
        """A condition that is not a comparison of values (a mask, a rate)."""
        if not condition:
            raise Failure(message, case, hint=hint)


def numerical_gradient(forward, inputs, G, eps=None):
    """Central differences of <G, forward(*inputs)> with respect to each input.

    ``forward(list of argument lists) -> list of outputs`` evaluates many
    perturbed inputs at once (one round trip to the student's process).
    Returns one array per input. The step is ``minicnn.DEFAULT_EPS``.
    """
    eps = DEFAULT_EPS if eps is None else eps
    requests = []
    for k, a in enumerate(inputs):
        for i in range(a.size):
            for sign in (1.0, -1.0):
                moved = [b.copy() for b in inputs]
                moved[k].reshape(-1)[i] += sign * eps
                requests.append(moved)
    outputs = forward(requests)
    grads, at = [], 0
    for a in inputs:
        g = numpy.empty(a.size)
        for i in range(a.size):
            plus, minus = outputs[at], outputs[at + 1]
            at += 2
            for out in (plus, minus):
                if isinstance(out, Unsupported) or numpy.shape(out) != numpy.shape(G):
                    raise Failure(f"your forward returned {out!r} for a perturbed input",
                                  hint="the forward must return arrays of a fixed shape")
            g[i] = (float((numpy.asarray(plus) * G).sum())
                    - float((numpy.asarray(minus) * G).sum())) / (2 * eps)
        grads.append(g.reshape(a.shape))
    return grads


def run_test(test, student) -> dict:
    """Run one test; the result dict of the report (see schema.REPORT_SCHEMA)."""
    tally = Tally()
    result = {"name": test.name, "description": test.description, "status": "passed",
              "message": "", "case": None, "max_rel_error": None,
              "threshold": threshold(), "hint": None, "printed": ""}
    try:
        test.run(student, tally)
        result["max_rel_error"] = tally.max_rel_error
    except Failure as f:
        result.update(status="failed", message=f.message, case=_jsonable(f.case),
                      max_rel_error=f.max_rel_error, hint=f.hint)
    except StudentNotImplemented as e:
        result.update(status="not_implemented", message=str(e),
                      hint="write the function's body (the TODO in its docstring)")
    except StudentTimeout as e:
        result.update(status="timeout", message=str(e),
                      hint="look for a loop whose index never reaches its end")
    except StudentError as e:
        result.update(status="error", message=f"your code raised {e}",
                      hint="the line above is in your file; check the shapes of its "
                      "arrays against the docstring")
    result["printed"] = student.printed
    return result


def _jsonable(case):
    """A case dict with tuples and numpy scalars turned into JSON types."""
    if case is None:
        return None
    out = {}
    for key, value in case.items():
        if isinstance(value, (tuple, list)):
            value = [v.item() if isinstance(v, numpy.generic) else v for v in value]
        elif isinstance(value, numpy.generic):
            value = value.item()
        out[str(key)] = value
    return out
