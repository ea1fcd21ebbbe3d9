"""The exercises: for each, its functions, its test cases and the engine's answers.

Every test compares the student's result with the engine's (``minicnn.functional``
run through autograd, or ``minicnn.optim.SGD``), never with anything from the
student's file. Cases come from a generator seeded per exercise, so a student
sees the same cases at every check. A layer exercise gets five tests in order:

1. shapes and dtypes (the first case, no values compared);
2. forward values on every case (odd sizes, strides, paddings, batch of one);
3. backward values on every case, the upstream gradient gy drawn at random;
4. the backward against float64 finite differences of the student's own forward;
5. edge cases (ties in max pooling, x == 0 in ReLU, a batch of one ...).

``mistakes`` are what known wrong solutions return (a flipped kernel, the
unbiased variance ...): when a student's array matches one, its hint is given.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy

import minicnn.functional as F
from minicnn.autograd import Tensor
from minicnn.exercises.grading import Failure, numerical_gradient
from minicnn.exercises.sandbox import FromForward
from minicnn.functional.dropout import dropout_forward_reference
from minicnn.optim import SGD

__all__ = ["Exercise", "Test", "EXERCISES"]


@dataclasses.dataclass
class Test:
    name: str
    description: str
    run: Callable  # run(student, tally); raises Failure


@dataclasses.dataclass
class Exercise:
    name: str
    description: str
    functions: tuple
    tests: list
    pluggable: bool = False  # minicnn exercise plug can train with it


@dataclasses.dataclass
class Case:
    """One set of inputs: ``params`` is what the report prints."""
    params: dict
    inputs: list                      # the float64 arrays the backward differentiates
    extra: tuple = ()                 # the other arguments (stride, padding, ...)
    N: int | None = None              # the batch size, for the batch-size hints


def _engine(fn, inputs, extra, gy=None):
    """The engine's output and, given gy, the gradients of <gy, output> per input."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in inputs]
    y = fn(*tensors, *extra)
    if gy is None:
        return y.numpy(), None
    (y * Tensor(gy)).sum().backward()
    return y.numpy(), [t.grad for t in tensors]


def _as_tuple(result, count, what, case):
    """The backward's gradients as a tuple of ``count`` items."""
    if count == 1:
        return (result,)
    if not isinstance(result, tuple) or len(result) != count:
        raise Failure(f"{what}: expected a tuple of {count} gradients, got {result!r}", case,
                      hint=f"return all {count} gradients, in the order of the docstring")
    return result


# ----------------------------------------------------------- layer exercises
def _case_tests(check, cases, edge):
    """The shapes, forward, backward and edge-case tests of an exercise whose
    ``check(student, tally, case, seed, forward=, backward=, values=)`` grades one
    case: shapes on the first case (values not compared), then every case's
    forward, every case's backward, and the edge cases (seeds from 100)."""

    def test_shapes(student, tally):
        check(student, tally, cases[0], 0, values=False)

    def test_forward(student, tally):
        for i, case in enumerate(cases):
            check(student, tally, case, i, backward=False)

    def test_backward(student, tally):
        for i, case in enumerate(cases):
            check(student, tally, case, i, forward=False)

    def test_edge(student, tally):
        for i, case in enumerate(edge):
            check(student, tally, case, 100 + i)

    return test_shapes, test_forward, test_backward, test_edge


def layer_tests(fwd, bwd, cases, engine, grad_names, mistakes=None, shape_hints=None,
                edge=(), fd_count=2):
    """The five tests of an exercise ``fwd(*inputs, *extra) -> y``,
    ``bwd(gy, *inputs, *extra) -> gradients`` (one per input)."""

    def answers(case, rng):
        y = engine_output(case)
        gy = rng.standard_normal(y.shape)
        y, grads = _engine(engine, case.inputs, case.extra, gy)
        return y, gy, grads

    def engine_output(case):
        return _engine(engine, case.inputs, case.extra)[0]

    def known(case, y, grads, gy):
        return mistakes(case, y, grads, gy) if mistakes else {}

    def shapes(case):
        return shape_hints(case) if shape_hints else {}

    def check_case(student, tally, case, seed, forward=True, backward=True, values=True):
        rng = numpy.random.default_rng(seed)
        y, gy, grads = answers(case, rng)
        wrong, hints = known(case, y, grads, gy), shapes(case)
        if forward:
            got = student.call(fwd, *case.inputs, *case.extra)
            tally.compare(f"{fwd}'s output", got, y, case.params, case.N,
                          wrong.get("y", ()), hints.get("y", ()), values=values)
        if backward:
            got = _as_tuple(student.call(bwd, gy, *case.inputs, *case.extra),
                            len(grad_names), bwd, case.params)
            for name, g, ref in zip(grad_names, got, grads):
                tally.compare(f"{bwd}'s {name}", g, ref, case.params, case.N,
                              wrong.get(name, ()), hints.get(name, ()), values=values)

    test_shapes, test_forward, test_backward, test_edge = _case_tests(check_case, cases, edge)

    def test_fd(student, tally):
        for i, case in enumerate(cases[:fd_count]):
            G = numpy.random.default_rng(i).standard_normal(engine_output(case).shape)
            numeric = numerical_gradient(
                lambda requests: student.many(fwd, [r + list(case.extra) for r in requests]),
                case.inputs, G)
            got = _as_tuple(student.call(bwd, G, *case.inputs, *case.extra),
                            len(grad_names), bwd, case.params)
            for name, g, n in zip(grad_names, got, numeric):
                tally.compare(f"{bwd}'s {name} vs finite differences of your forward", g, n,
                              case.params, hint="your backward is not the slope of your "
                              "own forward: derive the gradient again, one entry at a time")

    tests = [
        Test("shapes and dtypes", f"{fwd} and {bwd} return float64 arrays of the right "
             "shapes", test_shapes),
        Test("forward values", f"{fwd} matches the engine on {len(cases)} cases",
             test_forward),
        Test("backward values", f"{bwd} matches the engine's gradients on {len(cases)} "
             "cases", test_backward),
        Test("finite differences", f"{bwd} matches float64 central differences of your "
             f"{fwd}", test_fd),
    ]
    if edge:
        tests.append(Test("edge cases", ", ".join(c.params.get("edge", "") for c in edge),
                          test_edge))
    return tests


# --------------------------------------------------------------------- linear
def _linear_cases():
    rng = numpy.random.default_rng(11)
    sizes = [(3, 4, 2), (5, 3, 6)] + [tuple(int(v) for v in rng.integers(1, 7, 3))
                                      for _ in range(4)]
    cases = []
    for N, D, M in sizes:
        cases.append(Case({"x": (N, D), "w": (M, D), "b": (M,)},
                          [rng.standard_normal((N, D)), rng.standard_normal((M, D)),
                           rng.standard_normal(M)], N=N))
    edge = [Case({"edge": "a batch of one", "x": (1, 3), "w": (2, 3), "b": (2,)},
                 [rng.standard_normal((1, 3)), rng.standard_normal((2, 3)),
                  rng.standard_normal(2)], N=1)]
    return cases, edge


def _linear_mistakes(case, y, grads, gy):
    x, w, b = case.inputs
    return {"gw": [("gw is x^T gy, the transpose of the right answer gy^T x: swap the "
                    "product's order", (x.T @ gy).T if x.shape[1] == gy.shape[1] else None)],
            "y": [("y uses x @ w: w is (M, D), so the product is x @ w.T", None)]}


def _linear_shapes(case):
    N, D = case.inputs[0].shape
    M = case.inputs[1].shape[0]
    return {"gw": [("gw has the shape of x^T gy (D, M): a missing transpose, gw = gy^T x "
                    "is (M, D) like w", (D, M))],
            "gb": [("gb must be summed over the batch axis 0 (gb = gy.sum(axis=0)), "
                    "giving (M,)", (N,)), ("gb must be summed over the batch: (M,), not "
                                         "(N, M)", (N, M))]}


def _linear():
    cases, edge = _linear_cases()
    tests = layer_tests("linear_forward", "linear_backward", cases,
                        lambda x, w, b: F.linear(x, w, b), ("gx", "gw", "gb"),
                        _linear_mistakes, _linear_shapes, edge)
    return Exercise("linear", "the fully connected layer y = x w^T + b, forward and backward",
                    ("linear_forward", "linear_backward"), tests)


# ----------------------------------------------------------------------- relu
def _away_from_zero(rng, shape):
    """Values in +-[0.1, 1]: finite differences never straddle the kink at 0."""
    return rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


def _relu():
    rng = numpy.random.default_rng(12)
    shapes = [(3, 4), (2, 3, 4, 5), (7,), (1, 1)]
    cases = [Case({"x": s}, [_away_from_zero(rng, s)]) for s in shapes]
    zeros = numpy.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
    edge = [Case({"edge": "x == 0 (gradient 0 there, as PyTorch)", "x": (2, 3)}, [zeros])]

    def mistakes(case, y, grads, gy):
        x = case.inputs[0]
        return {"gx": [("the gradient at x == 0 must be 0 (PyTorch's convention): "
                        "use x > 0, not x >= 0", gy * (x >= 0)),
                       ("the mask comes from x (the forward's input), not from gy",
                        gy * (gy > 0))]}

    tests = layer_tests("relu_forward", "relu_backward", cases, F.relu, ("gx",), mistakes,
                        edge=edge)
    return Exercise("relu", "the rectified linear unit max(x, 0), forward and backward",
                    ("relu_forward", "relu_backward"), tests, pluggable=True)


# ----------------------------------------------------------------- conv_naive
def _conv_cases():
    rng = numpy.random.default_rng(13)
    geometries = [(2, 2, 5, 6, 3, 3, 3, 1, 1), (3, 1, 6, 5, 2, 3, 2, 2, 0)]
    for _ in range(4):
        N, C, OC = (int(v) for v in rng.integers(1, 4, 3))
        KH, KW = (int(v) for v in rng.integers(1, 4, 2))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        H, W = (int(v) for v in rng.integers(max(KH, KW), 8, 2))
        geometries.append((N, C, H, W, OC, KH, KW, stride, padding))
    geometries.append((1, 2, 7, 7, 2, 3, 3, 2, 1))  # batch 1, odd size, stride 2

    def case(N, C, H, W, OC, KH, KW, stride, padding):
        return Case({"x": (N, C, H, W), "w": (OC, C, KH, KW), "b": (OC,), "stride": stride,
                     "padding": padding},
                    [rng.standard_normal((N, C, H, W)), rng.standard_normal((OC, C, KH, KW)),
                     rng.standard_normal(OC)], (stride, padding), N)

    cases = [case(*g) for g in geometries]
    edge = [case(1, 1, 4, 4, 1, 1, 1, 1, 0), case(2, 3, 3, 3, 2, 3, 3, 1, 1)]
    edge[0].params["edge"] = "a 1x1 kernel on a batch of one"
    edge[1].params["edge"] = "a kernel as large as the input"
    return cases, edge


def _conv_mistakes(case, y, grads, gy):
    x, w, b = case.inputs
    stride, padding = case.extra
    flipped = F.conv2d(Tensor(x), Tensor(w[:, :, ::-1, ::-1].copy()), Tensor(b),
                       stride=stride, padding=padding).numpy()
    return {"y": [("you flipped the kernel (a true convolution); frameworks compute "
                   "cross-correlation: y = sum w[o, c, p, q] * xpad[n, c, i*stride + p, "
                   "j*stride + q]", flipped)]}


def _conv_shapes(case):
    x, w, _ = case.inputs
    N, C, H, W = x.shape
    OC, _, KH, KW = w.shape
    stride, padding = case.extra
    hints = []
    for p in (padding - 1, padding + 1, 0):
        if p >= 0 and p != padding:
            shape = (N, OC, (H + 2 * p - KH) // stride + 1, (W + 2 * p - KW) // stride + 1)
            hints.append((f"your output has the shape of padding={p}, not {padding}: pad "
                          f"{padding} zeros on every side, OH = (H + 2*padding - KH) // "
                          "stride + 1", shape))
    hints.append(("your output ignores the stride: OH = (H + 2*padding - KH) // stride + 1",
                  (N, OC, H + 2 * padding - KH + 1, W + 2 * padding - KW + 1)))
    hints.append(("an off-by-one in the output size: OH = (H + 2*padding - KH) // stride + 1 "
                  "(the + 1 counts the first window)",
                  (N, OC, (H + 2 * padding - KH) // stride, (W + 2 * padding - KW) // stride)))
    return {"y": hints,
            "gx": [("gx still has the padding: cut it off (gxpad[:, :, p:p+H, p:p+W])",
                    (N, C, H + 2 * padding, W + 2 * padding))]}


def _conv_naive():
    cases, edge = _conv_cases()
    tests = layer_tests("conv2d_forward", "conv2d_backward", cases,
                        lambda x, w, b, s, p: F.conv2d(x, w, b, stride=s, padding=p),
                        ("gx", "gw", "gb"), _conv_mistakes, _conv_shapes, edge)
    return Exercise("conv_naive", "2-D convolution with loops: stride, zero padding, "
                    "forward and backward", ("conv2d_forward", "conv2d_backward"), tests,
                    pluggable=True)


# --------------------------------------------------------------------- im2col
def _im2col_geometries():
    rng = numpy.random.default_rng(14)
    geometries = [(2, 2, 5, 6, 3, 2, 1, 1), (1, 3, 4, 4, 2, 2, 2, 0)]
    for _ in range(4):
        N, C = (int(v) for v in rng.integers(1, 4, 2))
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        H, W = (int(v) for v in rng.integers(max(kh, kw), 8, 2))
        geometries.append((N, C, H, W, kh, kw, stride, padding))
    geometries.append((1, 1, 7, 5, 3, 3, 2, 1))
    return geometries, rng


def _im2col_params(N, C, H, W, kh, kw, stride, padding):
    return {"x": (N, C, H, W), "kh": kh, "kw": kw, "stride": stride, "padding": padding}


def _cols_reordered(cols, N, C, kh, kw):
    """The columns with rows in (p, q, c) order instead of (c, p, q): a known mistake."""
    L = cols.shape[2]
    # (N, C*kh*kw, L) -> (N, C, kh, kw, L) -> (N, kh, kw, C, L) -> (N, kh*kw*C, L)
    return cols.reshape(N, C, kh, kw, L).transpose(0, 2, 3, 1, 4).reshape(N, -1, L)


def _col2im_overwriting(cols, x_shape, kh, kw, stride, padding):
    """col2im with ``=`` instead of ``+=``: a known mistake (overlaps keep the last copy)."""
    N, C, H, W = x_shape
    OH = (H + 2 * padding - kh) // stride + 1
    OW = (W + 2 * padding - kw) // stride + 1
    cols = cols.reshape(N, C, kh, kw, OH, OW)
    img = numpy.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for p in range(kh):
        for q in range(kw):
            img[:, :, p:p + stride * OH:stride, q:q + stride * OW:stride] = cols[:, :, p, q]
    return img[:, :, padding:padding + H, padding:padding + W]


def _im2col():
    geometries, rng = _im2col_geometries()
    xs = [rng.standard_normal(g[:4]) for g in geometries]

    def cols_of(x, g):
        return F.im2col(Tensor(x), (g[4], g[5]), padding=g[7], stride=g[6]).numpy()

    def test_shapes(student, tally):
        g, x = geometries[0], xs[0]
        cols = cols_of(x, g)
        tally.compare("im2col's output", student.call("im2col", x, *g[4:]), cols,
                      _im2col_params(*g), values=False)
        tally.compare("col2im's output", student.call("col2im", cols, g[:4], *g[4:]), x,
                      _im2col_params(*g), values=False)

    def test_im2col(student, tally):
        for g, x in zip(geometries, xs):
            cols = cols_of(x, g)
            N, C, kh, kw = g[0], g[1], g[4], g[5]
            tally.compare("im2col's output", student.call("im2col", x, *g[4:]), cols,
                          _im2col_params(*g), mistakes=[(
                              "the rows are in (p, q, c) order; the layout is row "
                              "c*kh*kw + p*kw + q (channel slowest), as "
                              "minicnn.functional.im2col", _cols_reordered(cols, N, C, kh, kw))])

    def test_col2im(student, tally):
        for i, g in enumerate(geometries):
            L = ((g[2] + 2 * g[7] - g[4]) // g[6] + 1) * ((g[3] + 2 * g[7] - g[5]) // g[6] + 1)
            cols = numpy.random.default_rng(i).standard_normal((g[0], g[1] * g[4] * g[5], L))
            x = F.col2im(Tensor(cols), g[2:4], (g[4], g[5]), padding=g[7],
                         stride=g[6]).numpy()
            tally.compare("col2im's output", student.call("col2im", cols, g[:4], *g[4:]), x,
                          _im2col_params(*g), mistakes=[(
                              "overlapping patches must add up: use += where you write "
                              "a column back, not =",
                              _col2im_overwriting(cols, g[:4], *g[4:]))])

    def test_adjoint(student, tally):
        # im2col is linear, so the gradient of <G, im2col(x)> is col2im(G)
        for i, g in enumerate(geometries[:2]):
            cols = cols_of(xs[i], g)
            G = numpy.random.default_rng(i).standard_normal(cols.shape)
            numeric = numerical_gradient(
                lambda requests: student.many("im2col", [r + list(g[4:]) for r in requests]),
                [xs[i]], G)[0]
            tally.compare("col2im(G) vs finite differences of your im2col",
                          student.call("col2im", G, g[:4], *g[4:]), numeric,
                          _im2col_params(*g), hint="col2im must be the adjoint (the "
                          "backward) of your im2col: the same index arithmetic, with += "
                          "instead of a copy")

    tests = [
        Test("shapes and dtypes", "im2col and col2im return float64 arrays of the right "
             "shapes", test_shapes),
        Test("im2col values", f"im2col matches minicnn.functional.im2col on "
             f"{len(geometries)} cases", test_im2col),
        Test("col2im values", "col2im matches minicnn.functional.col2im, overlaps added",
             test_col2im),
        Test("finite differences", "col2im is the gradient of your im2col (central "
             "differences)", test_adjoint),
    ]
    return Exercise("im2col", "unfold image patches into columns (im2col) and fold them "
                    "back, adding overlaps (col2im)", ("im2col", "col2im"), tests,
                    pluggable=True)


# ------------------------------------------------------------------- max_pool
def _pool_backward_ties(x, gy, kernel, stride, pick):
    """Max-pool backward with a known mistake: each window's gradient to its 'last'
    or 'all' maxima (for the ties hint), or 'assign'ed instead of added."""
    N, C, H, W = x.shape
    OH, OW = gy.shape[2:]
    gx = numpy.zeros_like(x)
    for i in range(OH):
        for j in range(OW):
            rows = slice(i * stride, i * stride + kernel)
            cols = slice(j * stride, j * stride + kernel)
            window = x[:, :, rows, cols]
            top = window == window.max(axis=(2, 3), keepdims=True)
            flat = top.reshape(N, C, -1)
            if pick in ("last", "assign"):
                if pick == "last":
                    at = flat.shape[2] - 1 - flat[:, :, ::-1].argmax(axis=2)
                else:
                    at = flat.argmax(axis=2)
                flat = numpy.zeros_like(flat)
                numpy.put_along_axis(flat, at[:, :, None], True, axis=2)
            top = flat.reshape(window.shape)
            g = top * gy[:, :, i, j][:, :, None, None]
            if pick == "assign":  # = instead of +=: a later window overwrites
                gx[:, :, rows, cols] = numpy.where(top, g, gx[:, :, rows, cols])
            else:
                gx[:, :, rows, cols] += g
    return gx


def _max_pool():
    rng = numpy.random.default_rng(15)
    geometries = [(2, 2, 4, 6, 2, 2), (1, 3, 5, 5, 3, 1), (2, 1, 7, 6, 3, 2), (3, 2, 6, 6, 2, 1),
                  (1, 1, 5, 7, 1, 1)]

    def case(N, C, H, W, kernel, stride, x=None, edge=None):
        if x is None:  # distinct values: no ties, and finite differences stay on one side
            x = rng.permutation(N * C * H * W).reshape(N, C, H, W) / (N * C * H * W)
        params = {"x": (N, C, H, W), "kernel": kernel, "stride": stride}
        if edge:
            params = {"edge": edge} | params
        return Case(params, [x.astype(numpy.float64)], (kernel, stride), N)

    cases = [case(*g) for g in geometries]
    edge = [case(2, 2, 4, 4, 2, 2, rng.integers(0, 2, (2, 2, 4, 4)), "ties inside windows"),
            case(1, 2, 5, 5, 3, 1, rng.integers(0, 3, (1, 2, 5, 5)),
                 "ties in overlapping windows")]

    def mistakes(case, y, grads, gy):
        x, (kernel, stride) = case.inputs[0], case.extra
        ties = ("ties: only the FIRST maximum of a window (row-major order) gets the "
                "gradient, as in minicnn and PyTorch; argmax of the flattened window finds it")
        return {"gx": [(ties, _pool_backward_ties(x, gy, kernel, stride, "last")),
                       (ties, _pool_backward_ties(x, gy, kernel, stride, "all")),
                       ("overlapping windows (stride < kernel) can share their maximum: "
                        "add the gradients with +=, do not assign",
                        _pool_backward_ties(x, gy, kernel, stride, "assign"))]}

    def shapes(case):
        N, C, H, W = case.inputs[0].shape
        kernel, stride = case.extra
        return {"y": [("your output ignores the stride: OH = (H - kernel) // stride + 1",
                       (N, C, H - kernel + 1, W - kernel + 1)),
                      ("your output uses kernel as the stride: OH = (H - kernel) // "
                       "stride + 1", (N, C, (H - kernel) // kernel + 1,
                                      (W - kernel) // kernel + 1))]}

    tests = layer_tests("max_pool_forward", "max_pool_backward", cases,
                        lambda x, k, s: F.max_pool2d(x, k, s), ("gx",), mistakes, shapes,
                        edge)
    return Exercise("max_pool", "2-D max pooling (no padding), forward and backward with "
                    "the engine's tie rule", ("max_pool_forward", "max_pool_backward"),
                    tests, pluggable=True)


# ------------------------------------------------------------------------ lrn
def _lrn():
    rng = numpy.random.default_rng(16)
    settings = [(2, 5, 3, 3, 5, 0.1, 0.75, 2.0), (1, 4, 2, 3, 2, 0.5, 0.6, 1.0),
                (2, 3, 2, 2, 3, 1.0, 0.75, 1.5), (1, 6, 2, 2, 4, 0.3, 1.2, 0.8)]

    def case(N, C, H, W, size, alpha, beta, k, edge=None):
        params = {"x": (N, C, H, W), "size": size, "alpha": alpha, "beta": beta, "k": k}
        if edge:
            params = {"edge": edge} | params
        return Case(params, [rng.standard_normal((N, C, H, W))], (size, alpha, beta, k), N)

    cases = [case(*s) for s in settings]
    edge = [case(1, 2, 2, 2, 5, 0.5, 0.75, 1.0, edge="a window wider than the channels"),
            case(2, 3, 2, 2, 1, 0.5, 0.75, 1.0, edge="size 1")]

    def mistakes(case, y, grads, gy):
        x, (size, alpha, beta, k) = case.inputs[0], case.extra
        scale = y / x if numpy.all(x != 0) else None  # scale^-beta
        direct = gy * scale if scale is not None else None  # y / x = scale^-beta
        no_size = F.local_response_norm(Tensor(x), size, alpha * size, beta, k).numpy()
        return {"y": [("PyTorch divides alpha by size: scale = k + alpha / size * (window "
                       "sum of x^2)", no_size)],
                "gx": [("the gradient misses the window term: x[c] also changes every "
                        "scale[i] whose window holds c", direct)]}

    def engine(x, size, alpha, beta, k):
        return F.local_response_norm(x, size, alpha, beta, k)

    tests = layer_tests("lrn_forward", "lrn_backward", cases, engine, ("gx",), mistakes,
                        edge=edge)
    return Exercise("lrn", "(bonus) local response normalization across channels, "
                    "PyTorch's convention", ("lrn_forward", "lrn_backward"), tests)


# ------------------------------------------------------------------ batch_norm
def _batch_norm():
    rng = numpy.random.default_rng(17)
    shapes = [(4, 3, 2, 2), (2, 2, 3, 1), (3, 1, 2, 3), (5, 2, 1, 1)]

    def case(shape, eps=1e-5, edge=None):
        C = shape[1]
        params = {"x": shape, "gamma": (C,), "beta": (C,), "eps": eps}
        if edge:
            params = {"edge": edge} | params
        x = rng.standard_normal(shape) * 2 + 1
        return Case(params, [x, rng.standard_normal(C), rng.standard_normal(C)], (eps,),
                    shape[0])

    cases = [case(s) for s in shapes]
    edge = [case((1, 2, 3, 3), edge="a batch of one"), case((2, 3, 2, 2), eps=0.5,
                                                             edge="a large eps")]

    def engine(x, gamma, beta, eps):
        C = x.shape[1]
        return F.batch_norm(x, numpy.zeros(C), numpy.ones(C), gamma, beta, training=True,
                            eps=eps)

    def answers(c, seed):
        y = _engine(engine, c.inputs, c.extra)[0]
        gy = numpy.random.default_rng(seed).standard_normal(y.shape)
        return gy, *_engine(engine, c.inputs, c.extra, gy)

    def mistakes(c, y, gy):
        x, gamma, beta = c.inputs
        eps = c.extra[0]
        M = x.size // x.shape[1]
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        unbiased = (x - mean) / numpy.sqrt(var * M / max(M - 1, 1) + eps)
        s = 1 / numpy.sqrt(var + eps)
        g = gy * gamma[None, :, None, None]
        return {"y": [("use the biased variance (divide by M = N*H*W, numpy's default "
                       "ddof=0), as batch norm's training mode",
                       gamma[None, :, None, None] * unbiased + beta[None, :, None, None])],
                "gx": [("gx misses the paths through the mean and the variance: gx = s/M * "
                        "(M*g - sum(g) - xhat * sum(g*xhat)), not just gamma * s * gy",
                        g * s),
                       ("gx misses the path through the variance: the term "
                        "- xhat * sum(g*xhat) (s/M times it)",
                        s * (g - g.mean(axis=(0, 2, 3), keepdims=True)))]}

    def backward_of(student, c, gy):
        y, grads = student.chain("batch_norm_forward", [*c.inputs, *c.extra],
                                 "batch_norm_backward", [gy, FromForward(1)], keep=0)
        return y, _as_tuple(grads, 3, "batch_norm_backward", c.params)

    def check(student, tally, c, seed, values=True, forward=True, backward=True):
        gy, y, grads = answers(c, seed)
        wrong = mistakes(c, y, gy)
        got_y, got = backward_of(student, c, gy)
        if forward:
            tally.compare("batch_norm_forward's y", got_y, y, c.params, c.N, wrong["y"],
                          values=values)
        if backward:
            for name, g, ref in zip(("gx", "ggamma", "gbeta"), got, grads):
                tally.compare(f"batch_norm_backward's {name}", g, ref, c.params, c.N,
                              wrong.get(name, ()), values=values)

    test_shapes, test_forward, test_backward, test_edge = _case_tests(check, cases, edge)

    def test_fd(student, tally):
        for i, c in enumerate(cases[:2]):
            G = numpy.random.default_rng(i).standard_normal(c.inputs[0].shape)
            numeric = numerical_gradient(
                lambda requests: student.many("batch_norm_forward",
                                              [r + list(c.extra) for r in requests], pick=0),
                c.inputs, G)
            _, got = backward_of(student, c, G)
            for name, g, n in zip(("gx", "ggamma", "gbeta"), got, numeric):
                tally.compare(f"batch_norm_backward's {name} vs finite differences of your "
                              "forward", g, n, c.params, hint="your backward is not the "
                              "slope of your own forward: x reaches y directly, through the "
                              "mean and through the variance")

    tests = [
        Test("shapes and dtypes", "y, gx, ggamma, gbeta are float64 arrays of the right "
             "shapes", test_shapes),
        Test("forward values", f"y matches the engine's batch_norm on {len(cases)} cases",
             test_forward),
        Test("backward values", "gx, ggamma, gbeta match the engine's gradients",
             test_backward),
        Test("finite differences", "the backward matches central differences of your "
             "forward", test_fd),
        Test("edge cases", "a batch of one, a large eps", test_edge),
    ]
    return Exercise("batch_norm", "batch normalization in training mode over (N, H, W), "
                    "forward and backward", ("batch_norm_forward", "batch_norm_backward"),
                    tests, pluggable=True)


# ------------------------------------------------------- softmax_cross_entropy
def _softmax_cross_entropy():
    rng = numpy.random.default_rng(18)
    shapes = [(4, 5), (3, 2), (6, 10), (2, 3)]

    def case(N, K, scale=1.0, edge=None):
        params = {"logits": (N, K), "labels": (N,)}
        if edge:
            params = {"edge": edge} | params
        return Case(params, [rng.standard_normal((N, K)) * scale],
                    (rng.integers(0, K, N),), N)

    cases = [case(*s) for s in shapes]
    edge = [case(3, 4, scale=1000.0, edge="logits near +-1000 (overflow)"),
            case(1, 3, edge="a batch of one")]

    def reference(c):
        logits, labels = c.inputs[0], c.extra[0]
        z = Tensor(logits.copy(), requires_grad=True)
        loss = F.cross_entropy(z, labels)
        loss.backward()
        return numpy.asarray(float(loss.item())), z.grad

    def check(student, tally, c, values=True, what=("loss", "glogits")):
        loss, glogits = reference(c)
        got = student.call("softmax_cross_entropy", c.inputs[0], c.extra[0])
        got = _as_tuple(got, 2, "softmax_cross_entropy", c.params)
        overflow = ("overflow: subtract each row's maximum from the logits before exp "
                    "(softmax does not change)")
        if "loss" in what:
            got_loss = got[0]
            if isinstance(got_loss, (float, int)):
                got_loss = numpy.asarray(float(got_loss))
            tally.compare("the loss", got_loss, loss, c.params, c.N, values=values,
                          hint=overflow if c.params.get("edge", "").startswith("logits")
                          else None)
        if "glogits" in what:
            tally.compare("glogits", got[1], glogits, c.params, c.N, values=values,
                          hint=overflow if c.params.get("edge", "").startswith("logits")
                          else None)

    def test_fd(student, tally):
        for c in cases[:2]:
            labels = c.extra[0]
            numeric = numerical_gradient(
                lambda requests: [numpy.asarray(float(v)) if isinstance(v, (float, int))
                                  else v for v in student.many(
                                      "softmax_cross_entropy", [r + [labels] for r in requests],
                                      pick=0)],
                c.inputs, numpy.asarray(1.0))[0]
            got = student.call("softmax_cross_entropy", c.inputs[0], labels, pick=1)
            tally.compare("glogits vs finite differences of your loss", got, numeric,
                          c.params, hint="your glogits is not the slope of your own loss: "
                          "d(mean loss)/dz = (softmax(z) - onehot(labels)) / N")

    tests = [
        Test("shapes and dtypes", "a scalar loss and float64 glogits (N, K)",
             lambda s, t: check(s, t, cases[0], values=False)),
        Test("loss values", "the mean loss matches minicnn.functional.cross_entropy",
             lambda s, t: [check(s, t, c, what=("loss",)) for c in cases]),
        Test("gradient values", "glogits matches the engine's gradient",
             lambda s, t: [check(s, t, c, what=("glogits",)) for c in cases]),
        Test("finite differences", "glogits matches central differences of your loss",
             test_fd),
        Test("edge cases", ", ".join(c.params["edge"] for c in edge),
             lambda s, t: [check(s, t, c) for c in edge]),
    ]
    return Exercise("softmax_cross_entropy", "the mean softmax cross-entropy loss and its "
                    "gradient, numerically stable", ("softmax_cross_entropy",), tests)


# -------------------------------------------------------------------- dropout
def _keep_mask(mask, case, tally):
    """The student's mask as 0/1 floats, after checking it is one."""
    tally.compare("the mask", numpy.asarray(mask, dtype=numpy.float64) if isinstance(
        mask, numpy.ndarray) else mask, numpy.zeros(case["x"]), case, values=False)
    m = numpy.asarray(mask, dtype=numpy.float64)
    tally.check(numpy.all((m == 0) | (m == 1)), "the mask holds values other than 0 and 1",
                case, hint="the mask must be 1 where kept and 0 where dropped; keep "
                "the 1/(1-p) out of it (y = x * mask / (1 - p))")
    return m


def _dropout():
    x = numpy.random.default_rng(19).standard_normal((4, 50))
    big = numpy.ones((200, 500))

    def run(student, p, seed, shape_x=x):
        return _as_tuple(student.call("dropout_forward", shape_x, p,
                                      numpy.random.default_rng(seed)),
                         2, "dropout_forward", {"x": shape_x.shape, "p": p})

    def test_shapes(student, tally):
        case = {"x": x.shape, "p": 0.5}
        y, mask = run(student, 0.5, 0)
        tally.compare("dropout_forward's y", y, x, case, values=False)
        _keep_mask(mask, case, tally)
        gx = student.call("dropout_backward", x, mask, 0.5)
        tally.compare("dropout_backward's gx", gx, x, case, values=False)

    def test_rng(student, tally):
        case = {"x": x.shape, "p": 0.5, "seeds": [7, 7, 8]}
        first = _keep_mask(run(student, 0.5, 7)[1], case, tally)
        again = _keep_mask(run(student, 0.5, 7)[1], case, tally)
        other = _keep_mask(run(student, 0.5, 8)[1], case, tally)
        hint = ("draw the mask from the rng argument (rng.random(x.shape)), never from "
                "numpy.random directly: the same seed must give the same mask")
        tally.check(numpy.array_equal(first, again), "two calls with the same seed gave "
                    "different masks", case, hint)
        tally.check(not numpy.array_equal(first, other), "two different seeds gave the "
                    "same mask", case, hint)

    def test_rate(student, tally):
        for p in (0.2, 0.7):
            case = {"x": big.shape, "p": p}
            m = _keep_mask(run(student, p, 1, big)[1], case, tally)
            dropped = 1 - m.mean()
            # a binomial count: 6 standard deviations never fail a right solution
            tolerance = 6 * numpy.sqrt(p * (1 - p) / m.size)
            hint = ("you drop with probability 1 - p: p is the probability of DROPPING "
                    "(keep where rng.random(shape) >= p)"
                    if abs(dropped - (1 - p)) <= tolerance else
                    "each entry must be dropped independently with probability p")
            tally.check(abs(dropped - p) <= tolerance, f"dropped fraction {dropped:.4f}, "
                        f"expected {p} +- {tolerance:.4f}", case, hint)

    def check_values(student, tally, p, seed):
        case = {"x": x.shape, "p": p}
        y, mask = run(student, p, seed)
        m = _keep_mask(mask, case, tally)
        # the engine's kernel given u = the student's keep mask: kept where u >= p
        u = m if p > 0 else numpy.ones_like(m)
        ref_y, ref_mask = dropout_forward_reference(x, u, p)
        tally.compare("dropout_forward's y", y, ref_y, case, mistakes=[(
            "the kept entries must be scaled by 1/(1-p) (inverted dropout), so that "
            "the expected output equals the input", x * m)])
        gy = numpy.random.default_rng(seed).standard_normal(x.shape)
        tally.compare("dropout_backward's gx", student.call("dropout_backward", gy, mask, p),
                      gy * ref_mask, case, mistakes=[(
                          "the gradient needs the same 1/(1-p) scale as the forward",
                          gy * m)])

    tests = [
        Test("shapes and dtypes", "y, mask and gx have x's shape; y and gx are float64",
             test_shapes),
        Test("uses rng", "the same seed gives the same mask, another seed another one",
             test_rng),
        Test("drop rate", "about a fraction p of 100,000 entries is dropped", test_rate),
        Test("values", "y = x * mask / (1 - p) and gx = gy * mask / (1 - p), as the engine",
             lambda s, t: [check_values(s, t, p, i) for i, p in enumerate((0.5, 0.25, 0.9))]),
        Test("edge cases", "p = 0 keeps everything", lambda s, t: check_values(s, t, 0.0, 3)),
    ]
    return Exercise("dropout", "inverted dropout with a given numpy Generator, forward and "
                    "backward", ("dropout_forward", "dropout_backward"), tests)


# --------------------------------------------------------------- sgd_momentum
def _sgd_momentum():
    settings = [(0.1, 0.9, 0.0, False), (0.05, 0.9, 0.01, False), (0.1, 0.8, 0.01, True),
                (0.2, 0.0, 0.0, False), (0.1, 0.5, 0.1, True)]
    steps = 3

    def trajectory(lr, momentum, weight_decay, nesterov, seed):
        """The engine's (param, velocity) after each of ``steps`` steps, and the grads."""
        rng = numpy.random.default_rng(seed)
        start = rng.standard_normal((3, 4))
        grads = [rng.standard_normal((3, 4)) for _ in range(steps)]
        p = Tensor(start.copy(), requires_grad=True)
        opt = SGD([p], lr=lr, momentum=momentum, weight_decay=weight_decay,
                  nesterov=nesterov)
        states = []
        for g in grads:
            p.grad = g.copy()
            opt.step()
            buf = opt.state[p].get("momentum_buffer") if momentum else None
            states.append((p.data.copy(), None if buf is None else buf.copy()))
        return start, grads, states

    def check(student, tally, index, values=True):
        lr, momentum, weight_decay, nesterov = settings[index]
        case = {"param": (3, 4), "lr": lr, "momentum": momentum,
                "weight_decay": weight_decay, "nesterov": nesterov}
        start, grads, states = trajectory(lr, momentum, weight_decay, nesterov, index)
        param, velocity = start, numpy.zeros_like(start)
        for step, (g, (ref_p, ref_v)) in enumerate(zip(grads, states), start=1):
            case_step = case | {"step": step}
            old_param, old_velocity = param, velocity
            got = _as_tuple(student.call("sgd_momentum_step", param, g, velocity, lr,
                                         momentum, weight_decay, nesterov),
                            2, "sgd_momentum_step", case_step)
            decayed = g + weight_decay * old_param
            if ref_v is not None:
                wrong_v = [("the velocity accumulates gradients, not steps: v = momentum*v "
                            "+ g (PyTorch), not v = momentum*v - lr*g", -lr * ref_v),
                           ("weight decay goes into the gradient before the velocity: "
                            "g = grad + weight_decay * param",
                            momentum * old_velocity + g)]
                velocity = tally.compare("the velocity", got[1], ref_v, case_step,
                                         mistakes=wrong_v, values=values)
            else:  # plain SGD: the velocity is just the decayed gradient
                velocity = tally.compare("the velocity", got[1], decayed, case_step,
                                         values=values)
            v_plain = momentum * old_velocity + decayed
            if nesterov:
                wrong_step = ("nesterov: step along g + momentum * v (v the new velocity), "
                              "not along v", old_param - lr * v_plain)
            else:
                wrong_step = ("without nesterov the step is -lr * v (v the new velocity)",
                              old_param - lr * (decayed + momentum * v_plain))
            wrong_p = [wrong_step,
                       ("weight decay goes into the gradient: g = grad + weight_decay * "
                        "param", old_param - lr * (momentum * old_velocity + g))]
            param = tally.compare("the parameter", got[0], ref_p, case_step,
                                  mistakes=wrong_p, values=values)
            if not values:
                return

    tests = [
        Test("shapes and dtypes", "param and velocity come back as float64 arrays of "
             "param's shape", lambda s, t: check(s, t, 0, values=False)),
        Test("momentum", "3 steps match minicnn.optim.SGD (PyTorch's rule)",
             lambda s, t: check(s, t, 0)),
        Test("weight decay", "3 steps with weight_decay", lambda s, t: check(s, t, 1)),
        Test("nesterov", "3 Nesterov steps", lambda s, t: [check(s, t, i) for i in (2, 4)]),
        Test("edge cases", "momentum = 0 (plain SGD)", lambda s, t: check(s, t, 3)),
    ]
    return Exercise("sgd_momentum", "one SGD step with momentum, weight decay and "
                    "Nesterov, PyTorch's update rule", ("sgd_momentum_step",), tests,
                    pluggable=True)


EXERCISES = {e.name: e for e in (
    _linear(), _relu(), _softmax_cross_entropy(), _conv_naive(), _im2col(), _max_pool(),
    _batch_norm(), _dropout(), _sgd_momentum(), _lrn())}
