"""The op table behind ``minicnn gradcheck``: every op's backward against finite differences.

For each op we draw small float64 inputs, contract the output with a random
upstream gradient G, and compare d<G, op(x)>/dx from ``backward`` with central
differences (``minicnn.numerical_grad``). The table shows CS231n's relative
error ``max |a - n| / max(1e-8, |a| + |n|)`` per input: the number coursework
asks for. Rough guide in float64: < 1e-7 excellent, < 1e-5 fine for ops with
kinks (ReLU, max pooling), > 1e-3 a bug.

    from minicnn.tools.gradcheck_suite import run_suite, format_table
    print(format_table(run_suite(["conv2d", "batch_norm"])))
"""
from __future__ import annotations

import numpy

import minicnn.functional as F
from minicnn import rng
from minicnn.autograd import Tensor
from minicnn.gradcheck import numerical_grad, relative_error

__all__ = ["OPS", "run_suite", "check_op", "format_table", "THRESHOLD"]

THRESHOLD = 1e-5  # a row passes when its max relative error is below this


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


# name -> (function of Tensors, input factory rng -> [(label, array)])
OPS = {
    "conv2d": (lambda x, W, b: F.conv2d(x, W, b, stride=2, padding=1),
               lambda r: [("x", r.standard_normal((2, 2, 5, 5))),
                          ("weight", r.standard_normal((3, 2, 3, 3))),
                          ("bias", r.standard_normal(3))]),
    "conv2d_groups_dilation": (lambda x, W: F.conv2d(x, W, None, padding=2, dilation=2,
                                                     groups=2),
                               lambda r: [("x", r.standard_normal((1, 4, 5, 5))),
                                          ("weight", r.standard_normal((4, 2, 3, 3)))]),
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


def check_op(name: str, seed: int = 0, eps: float = 1e-6) -> list:
    """Gradient-check op ``name``; one row per float input.

    Row: ``{'op', 'input', 'shape', 'rel_error', 'passed'}``.
    """
    fn, make_inputs = OPS[name]
    rng = numpy.random.default_rng(seed)
    named = make_inputs(rng)
    tensors = []
    for _, array in named:
        array = numpy.asarray(array)
        if array.dtype.kind == "f":
            tensors.append(Tensor(array.astype(numpy.float64), requires_grad=True))
        else:
            tensors.append(Tensor(array.astype(numpy.int64)))
    out = fn(*tensors)
    weight = rng.standard_normal(out.shape)
    (out * Tensor(weight)).sum().backward()

    floats = [i for i, t in enumerate(tensors) if t.dtype.kind == "f"]

    def of_floats(*xs):  # fn with the integer inputs (targets) held fixed
        args = list(tensors)
        for i, x in zip(floats, xs):
            args[i] = x
        return fn(*args)
    numeric = numerical_grad(of_floats, [tensors[i] for i in floats], eps=eps,
                             weight=[weight])
    rows = []
    for i, n in zip(floats, numeric):
        t = tensors[i]
        analytic = t.grad if t.grad is not None else numpy.zeros_like(t.data)
        err = float(relative_error(analytic, n).max())
        rows.append({"op": name, "input": named[i][0], "shape": list(t.shape),
                     "rel_error": err, "passed": err < THRESHOLD})
    return rows


def run_suite(names=None, seed: int = 0) -> list:
    """Check every op in ``names`` (default all); minicnn's RNG state is left as it was."""
    names = list(OPS) if names is None else list(names)
    state = rng.get_rng_state()
    try:
        rows = []
        for name in names:
            if name not in OPS:
                raise ValueError(f"gradcheck: unknown op {name!r}; choose one of "
                                 f"{', '.join(OPS)}")
            rows.extend(check_op(name, seed))
        return rows
    finally:
        rng.set_rng_state(state)


def format_table(rows) -> str:
    """The rows as a text table: op, input, shape, relative error, verdict."""
    header = f"{'op':<24}{'input':<9}{'shape':<16}{'rel. error':>12}  result"
    lines = [header, "-" * len(header)]
    for r in rows:
        shape = "x".join(str(s) for s in r["shape"])
        verdict = "ok" if r["passed"] else "FAIL"
        lines.append(f"{r['op']:<24}{r['input']:<9}{shape:<16}{r['rel_error']:>12.2e}  {verdict}")
    worst = max((r["rel_error"] for r in rows), default=0.0)
    lines.append(f"{len(rows)} gradients checked, worst relative error {worst:.2e} "
                 f"(pass below {THRESHOLD:.0e})")
    return "\n".join(lines)
