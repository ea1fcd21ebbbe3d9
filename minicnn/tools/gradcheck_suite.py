"""What ``minicnn gradcheck`` runs: the op suite, a student's own function, a whole model.

* ``run_suite(names)``: every op of ``OPS`` on small float64 inputs drawn
  away from kinks, through ``minicnn.gradcheck`` (random upstream gradient,
  central differences, the module's relative-error rule and ``DEFAULT_RTOL``);
  ``format_table`` prints one row per input.
* ``check_file('path/to/file.py:function', shapes)``: ``gradcheck`` of a
  function in a Python file (the file is run, as ``python file.py`` would),
  its inputs drawn by ``<function>_inputs()`` or ``function_inputs()`` in
  the same file, or random float64 arrays of the given shapes.
* ``localize(model, input_shape)``: ``minicnn.gradcheck_graph`` over one
  float64 forward of a model (batch 2, cross-entropy loss), which names the
  first node whose backward is wrong.

    from minicnn.tools.gradcheck_suite import run_suite, format_table
    print(format_table(run_suite(["conv2d", "batch_norm"])))
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys

import numpy

import minicnn.functional as F
from minicnn import rng
from minicnn.autograd import Tensor
from minicnn.gradient_check import DEFAULT_EPS, DEFAULT_RTOL, gradcheck, gradcheck_graph

__all__ = ["OPS", "run_suite", "check_op", "format_table", "op_inputs", "check_file",
           "load_function", "localize", "GradcheckUsageError"]


class GradcheckUsageError(ValueError):
    """A missing file, function or input companion: one line saying what to do."""


def _away_from_zero(rng, shape, low=0.1):
    """Values in +-[low, 1]: keeps ReLU-like kinks out of the finite-difference step."""
    magnitude = rng.uniform(low, 1.0, size=shape)
    return magnitude * rng.choice([-1.0, 1.0], size=shape)


def _dropout(x):
    rng.manual_seed(0)  # the same mask on every call, so finite differences see one op
    return F.dropout(x, p=0.5, training=True)


def _batch_norm(x, w, b):
    C = x.shape[1]
    return F.batch_norm(x, numpy.zeros(C), numpy.ones(C), w, b, training=True)


def _batch_norm_relu(x, w, b):
    C = x.shape[1]
    return F.batch_norm_relu(x, numpy.zeros(C), numpy.ones(C), w, b, training=True)


def _sum_away_from_zero(rng, shape):
    """(a, b) whose sum is in +-[0.1, 1]: add_relu's kink stays out of the step."""
    a = rng.standard_normal(shape)
    return [("a", a), ("b", _away_from_zero(rng, shape) - a)]


# name -> (function of Tensors, input factory rng -> [(label, array)])
OPS = {
    "conv2d": (lambda x, W, b: F.conv2d(x, W, b, stride=2, padding=1),
               lambda r: [("x", r.standard_normal((2, 2, 4, 4))),
                          ("weight", r.standard_normal((3, 2, 3, 3))),
                          ("bias", r.standard_normal(3))]),
    "conv2d_groups_dilation": (lambda x, W: F.conv2d(x, W, None, padding=2, dilation=2,
                                                     groups=2),
                               lambda r: [("x", r.standard_normal((1, 4, 4, 4))),
                                          ("weight", r.standard_normal((2, 2, 3, 3)))]),
    "linear": (F.linear,
               lambda r: [("x", r.standard_normal((3, 4))),
                          ("weight", r.standard_normal((2, 4))),
                          ("bias", r.standard_normal(2))]),
    "max_pool2d": (lambda x: F.max_pool2d(x, kernel_size=2, stride=2),
                   lambda r: [("x", r.permutation(2 * 2 * 4 * 4).reshape(2, 2, 4, 4) / 8.0)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, kernel_size=3, stride=2, padding=1),
                   lambda r: [("x", r.standard_normal((2, 2, 5, 5)))]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
                            lambda r: [("x", r.standard_normal((1, 2, 5, 7)))]),
    "batch_norm": (_batch_norm,
                   lambda r: [("x", r.standard_normal((4, 3, 2, 2))),
                              ("weight", r.standard_normal(3)),
                              ("bias", r.standard_normal(3))]),
    "local_response_norm": (lambda x: F.local_response_norm(x, size=3, alpha=0.1, beta=0.75,
                                                            k=2.0),
                            lambda r: [("x", r.standard_normal((2, 5, 2, 2)))]),
    "batch_norm_relu": (_batch_norm_relu,
                        lambda r: [("x", r.standard_normal((4, 3, 2, 2))),
                                   ("weight", r.standard_normal(3)),
                                   ("bias", r.standard_normal(3))]),
    "conv2d_relu": (lambda x, W, b: F.conv2d_relu(x, W, b, padding=1),
                    lambda r: [("x", r.standard_normal((2, 2, 4, 4))),
                               ("weight", r.standard_normal((3, 2, 3, 3))),
                               ("bias", r.standard_normal(3))]),
    "add_relu": (F.add_relu, lambda r: _sum_away_from_zero(r, (3, 4))),
    "relu": (F.relu, lambda r: [("x", _away_from_zero(r, (3, 4)))]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda r: [("x", _away_from_zero(r, (3, 4)))]),
    "tanh": (F.tanh, lambda r: [("x", r.standard_normal((3, 4)))]),
    "sigmoid": (F.sigmoid, lambda r: [("x", r.standard_normal((3, 4)))]),
    "softmax": (lambda x: F.softmax(x, dim=1), lambda r: [("x", r.standard_normal((3, 5)))]),
    "log_softmax": (lambda x: F.log_softmax(x, dim=1),
                    lambda r: [("x", r.standard_normal((3, 5)))]),
    "dropout": (_dropout, lambda r: [("x", r.standard_normal((4, 5)))]),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
                      lambda r: [("input", r.standard_normal((4, 5))),
                                 ("target", r.integers(0, 5, 4))]),
    "nll_loss": (lambda x, t: F.nll_loss(F.log_softmax(x, dim=1), t),
                 lambda r: [("input", r.standard_normal((4, 5))),
                            ("target", r.integers(0, 5, 4))]),
    "mse_loss": (F.mse_loss, lambda r: [("input", r.standard_normal((3, 4))),
                                        ("target", r.standard_normal((3, 4)))]),
    "matmul": (lambda a, b: a @ b, lambda r: [("a", r.standard_normal((3, 4))),
                                             ("b", r.standard_normal((4, 2)))]),
    "pad": (lambda x: F.pad(x, (1, 2, 0, 1)), lambda r: [("x", r.standard_normal((1, 2, 3, 3)))]),
}


def op_inputs(name: str, generator) -> list:
    """[(label, Tensor)] for op ``name``: float64 inputs, int64 labels."""
    _, make_inputs = OPS[name]
    named = []
    for label, array in make_inputs(generator):
        array = numpy.asarray(array)
        dtype = numpy.float64 if array.dtype.kind == "f" else numpy.int64
        named.append((label, Tensor(array.astype(dtype))))
    return named


def check_op(name: str, seed: int = 0, eps: float = DEFAULT_EPS) -> list:
    """Gradient-check op ``name`` with ``minicnn.gradcheck``; one row per float input.

    Row: ``{'op', 'input', 'shape', 'rel_error', 'n_checked', 'n_failed',
    'worst_index', 'passed'}``.
    """
    fn = OPS[name][0]
    named = op_inputs(name, numpy.random.default_rng(seed))
    result = gradcheck(fn, [t for _, t in named], eps=eps, raise_on_failure=False,
                       seed=seed)
    rows = []
    for (label, t), c in zip(named, result.inputs):
        if not c.checked:  # integer targets, held fixed
            continue
        rows.append({"op": name, "input": label, "shape": list(t.shape),
                     "rel_error": c.max_rel_error, "n_checked": c.n_checked,
                     "n_failed": c.n_failed, "worst_index": c.worst_index,
                     "passed": c.passed})
    return rows


def run_suite(names=None, seed: int = 0) -> list:
    """Check every op in ``names`` (default all); minicnn's RNG state is left as it was."""
    names = list(OPS) if names is None else list(names)
    for name in names:
        if name not in OPS:
            raise GradcheckUsageError(f"unknown op {name!r}; choose one of: all, "
                                      f"{', '.join(OPS)}")
    state = rng.get_rng_state()
    try:
        rows = []
        for name in names:
            rows.extend(check_op(name, seed))
        return rows
    finally:
        rng.set_rng_state(state)


def format_table(rows) -> str:
    """The rows as a text table: op, input, shape, relative error, verdict."""
    header = (f"{'op':<24}{'input':<9}{'shape':<14}{'checked':>8}{'failed':>8}"
              f"{'max rel. error':>16}  result")
    lines = [header, "-" * len(header)]
    for r in rows:
        shape = "x".join(str(s) for s in r["shape"])
        verdict = "ok" if r["passed"] else f"FAIL at {r['worst_index']}"
        lines.append(f"{r['op']:<24}{r['input']:<9}{shape:<14}{r['n_checked']:>8}"
                     f"{r['n_failed']:>8}{r['rel_error']:>16.2e}  {verdict}")
    worst = max((r["rel_error"] for r in rows), default=0.0)
    lines.append(f"{len(rows)} gradients checked, worst relative error {worst:.2e} "
                 f"(pass at or below {DEFAULT_RTOL:.0e}, eps {DEFAULT_EPS:.0e})")
    return "\n".join(lines)


# ------------------------------------------------------- a student's function
def load_function(spec: str):
    """'path/to/file.py:function' -> (function, its inputs companion or None).

    Runs the file as a module, as ``python file.py`` would (it is the user's
    own code). The companion is ``<function>_inputs`` if the file defines it,
    else ``function_inputs``.
    """
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise GradcheckUsageError(f"{spec!r} is not FILE.py:FUNCTION; write e.g. "
                                  "minicnn gradcheck my_layers.py:my_relu")
    if not os.path.isfile(path):
        raise GradcheckUsageError(f"no file {path!r}; give the path of your Python file, "
                                  f"e.g. minicnn gradcheck ./my_layers.py:{name}")
    module_name = "_minicnn_gradcheck_" + os.path.basename(path)[:-3]
    spec_ = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec_)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # its own imports
    try:
        spec_.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if not callable(fn):
        defined = sorted(k for k, v in vars(module).items()
                         if callable(v) and getattr(v, "__module__", None) == module_name)
        raise GradcheckUsageError(
            f"{path} has no function {name!r}; it defines: {', '.join(defined) or 'none'}")
    companion = getattr(module, f"{name}_inputs", None) or getattr(module,
                                                                   "function_inputs", None)
    return fn, companion if callable(companion) else None


def _check_arity(fn, name, count, source):
    """A one-line error when ``fn`` cannot take ``count`` positional inputs."""
    try:
        inspect.signature(fn).bind(*range(count))
    except TypeError:
        raise GradcheckUsageError(
            f"{name}{inspect.signature(fn)} cannot take the {count} input(s) given by "
            f"{source}; give one input per argument") from None
    except ValueError:  # no signature to read (a builtin): let the call decide
        pass


def check_file(spec: str, shapes=None, seed: int = 0, eps: float = DEFAULT_EPS,
               rtol: float | None = None):
    """``gradcheck`` of the function named by ``spec`` ('file.py:function').

    Inputs: random float64 Tensors of ``shapes`` (e.g. [(2, 3), (3,)]) when
    given, else what the file's ``<function>_inputs()`` or
    ``function_inputs()`` returns (a list of Tensors or arrays). Returns the
    ``GradcheckResult`` (it does not raise on a failed check).
    """
    fn, companion = load_function(spec)
    path, _, name = spec.rpartition(":")
    if shapes:
        generator = numpy.random.default_rng(seed)
        inputs = [Tensor(generator.standard_normal(shape)) for shape in shapes]
    elif companion is not None:
        rng.manual_seed(seed)
        inputs = companion()
        if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
    else:
        raise GradcheckUsageError(
            f"{path} has no {name}_inputs() or function_inputs() to draw the inputs of "
            f"{name}; define one returning a list of float64 Tensors, or pass --shape "
            "once per input (e.g. --shape 2,3 --shape 3)")
    _check_arity(fn, name, len(inputs), "--shape" if shapes else companion.__name__ + "()")
    return gradcheck(fn, inputs, eps=eps, rtol=rtol, raise_on_failure=False, seed=seed)


# -------------------------------------------------------------- a whole model
def localize(model, input_shape, seed: int = 0, max_elements: int = 16):
    """``gradcheck_graph`` over one float64 training-mode forward of ``model``.

    The batch is 2 random float64 images of ``input_shape`` (C, H, W) and the
    graph ends in the cross-entropy loss against random labels (held fixed).
    The model is converted to float64 in place.
    """
    generator = numpy.random.default_rng(seed)
    model.double()
    model.train()
    x = Tensor(generator.standard_normal((2, *input_shape)))
    state = rng.get_rng_state()
    rng.manual_seed(seed)
    try:
        logits = model(x)
        labels = generator.integers(0, logits.shape[1], size=2)
        loss = F.cross_entropy(logits, labels)
        return gradcheck_graph(loss, max_elements=max_elements, seed=seed)
    finally:
        rng.set_rng_state(state)
