"""``minicnn exercise plug NAME``: train LeNet-5 with the student's own kernels, and time them.

The student's functions become kernels of the engine (kernels/README.md's
contract) through the small adapters of ``ADAPTERS``: each turns a kernel call
into a call of the student's signature (float64 in, the engine's dtype out)
and falls back to the engine's reference for the cases the exercise does not
cover (max pooling with padding, a convolution with dilation or groups ...),
counting them. The adapters are registered in the slot of the ``numpy``
backend, which has no kernels of its own, for the duration of a
``with student_kernels(...)`` block.

``plug`` then trains LeNet-5 (the modern variant, with a BatchNorm2d after
each convolution for ``batch_norm``) for one epoch on scikit-learn's digits
twice, from the same seed, the same initial weights and the same batches: once
with the engine's references and once with the student's kernels, and reports
both test accuracies. Then it times the student's kernel against the NumPy
reference, the Numba kernel and PyTorch (when installed) on LeNet-5's layer.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import time

import numpy

from minicnn import nn
from minicnn.backend import BackendUnavailableError, kernel, register_kernel, use_backend
from minicnn.data import ArrayDataset, DataLoader, channel_stats, load_dataset
from minicnn.data import transforms as T
from minicnn.exercises.catalog import EXERCISES
from minicnn.exercises.course import ExerciseError, exercise_path
from minicnn.functional.activation import relu_backward_reference, relu_forward_reference
from minicnn.functional.conv import (
    col2im_array,
    conv2d_backward_reference,
    conv2d_forward_reference,
    im2col_array,
)
from minicnn.functional.normalization import (
    batch_norm_backward_reference,
    batch_norm_forward_reference,
)
from minicnn.functional.pooling import (
    max_pool2d_backward_reference,
    max_pool2d_forward_reference,
)
from minicnn.optim import SGD, Adam
from minicnn.optim.sgd import _sgd_step_reference
from minicnn.rng import manual_seed
from minicnn.train import Trainer
from minicnn.zoo.lenet import LeNet5

__all__ = ["ADAPTERS", "PLUGGABLE", "plug", "student_kernels", "load_student",
           "format_plug", "PlugResult"]

TOLERANCE = 0.02  # the student's test accuracy must be within this of the reference's

_backend = importlib.import_module("minicnn.backend")  # the module (minicnn.backend is
# also re-exported as a function name elsewhere); its kernel table is restored on exit


def load_student(path: str):
    """The student's file as a fresh module (not entered in sys.modules)."""
    spec = importlib.util.spec_from_file_location("student_exercise", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _f64(a):
    return numpy.asarray(a, dtype=numpy.float64)


class Fallbacks:
    """How many kernel calls the student's code did not cover (the reference ran)."""

    def __init__(self):
        self.counts: dict = {}

    def add(self, why: str):
        self.counts[why] = self.counts.get(why, 0) + 1


# ------------------------------------------------------------------ adapters
# One small function per kernel of the contract: (student module, fallbacks) ->
# a kernel with the contract's signature. Kernel names are the keys.

def _conv_forward(s, fb):
    def conv2d_forward(x, weight, b, SH, SW, PH, PW, DH, DW, groups):
        if SH != SW or PH != PW or (DH, DW) != (1, 1) or groups != 1:
            fb.add("conv2d with unequal strides/paddings, dilation or groups")
            return conv2d_forward_reference(x, weight, b, SH, SW, PH, PW, DH, DW, groups)
        bias = numpy.zeros(weight.shape[0]) if b is None else _f64(b)
        return s.conv2d_forward(_f64(x), _f64(weight), bias, SH, PH).astype(x.dtype)
    return conv2d_forward


def _conv_backward(s, fb):
    def conv2d_backward(gy, x, weight, SH, SW, PH, PW, DH, DW, groups, need_gx, need_gweight,
                        need_gbias):
        if SH != SW or PH != PW or (DH, DW) != (1, 1) or groups != 1:
            fb.add("conv2d with unequal strides/paddings, dilation or groups")
            return conv2d_backward_reference(gy, x, weight, SH, SW, PH, PW, DH, DW, groups,
                                             need_gx, need_gweight, need_gbias)
        gx, gweight, gbias = s.conv2d_backward(_f64(gy), _f64(x), _f64(weight),
                                               numpy.zeros(weight.shape[0]), SH, PH)
        return (gx.astype(x.dtype) if need_gx else None,
                gweight.astype(weight.dtype) if need_gweight else None,
                gbias.astype(gy.dtype) if need_gbias else None)
    return conv2d_backward


def _im2col(s, fb):
    def im2col(x, KH, KW, SH, SW, PH, PW, DH, DW):
        if SH != SW or PH != PW or (DH, DW) != (1, 1):
            fb.add("im2col with unequal strides/paddings or dilation")
            return im2col_array(x, KH, KW, SH, SW, PH, PW, DH, DW)
        return s.im2col(_f64(x), KH, KW, SH, PH).astype(x.dtype)
    return im2col


def _col2im(s, fb):
    def col2im(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW):
        if SH != SW or PH != PW or (DH, DW) != (1, 1):
            fb.add("col2im with unequal strides/paddings or dilation")
            return col2im_array(cols, x_shape, KH, KW, SH, SW, PH, PW, DH, DW)
        return s.col2im(_f64(cols), tuple(x_shape), KH, KW, SH, PH).astype(cols.dtype)
    return col2im


class _PoolSaved:
    """What the max-pool adapter keeps for backward in the engine's ``argmax`` slot:
    the student's backward takes the input x, not an argmax."""

    def __init__(self, x, kernel, stride, argmax=None):
        self.x, self.kernel, self.stride, self.argmax = x, kernel, stride, argmax


def _max_pool_forward(s, fb):
    def max_pool2d_forward(x, KH, KW, SH, SW, PH, PW, OH, OW):
        if KH != KW or SH != SW or PH or PW or OH != (x.shape[2] - KH) // SH + 1 or \
                OW != (x.shape[3] - KW) // SW + 1:
            fb.add("max pooling with padding, ceil_mode or non-square windows")
            y, argmax = max_pool2d_forward_reference(x, KH, KW, SH, SW, PH, PW, OH, OW)
            return y, _PoolSaved(None, None, None, argmax)
        y = s.max_pool_forward(_f64(x), KH, SH).astype(x.dtype)
        return y, _PoolSaved(x, KH, SH)
    return max_pool2d_forward


def _max_pool_backward(s, fb):
    def max_pool2d_backward(gy, saved, x_shape):
        if saved.argmax is not None:
            return max_pool2d_backward_reference(gy, saved.argmax, x_shape)
        return s.max_pool_backward(_f64(gy), _f64(saved.x), saved.kernel,
                                   saved.stride).astype(gy.dtype)
    return max_pool2d_backward


class _NormSaved:
    """The student's batch-norm cache, kept in the engine's ``inv_std`` slot."""

    def __init__(self, cache):
        self.cache = cache


def _batch_norm_forward(s, fb):
    def batch_norm_forward(x3, weight, bias, eps):
        N, C, L = x3.shape
        gamma = numpy.ones(C) if weight is None else _f64(weight)
        beta = numpy.zeros(C) if bias is None else _f64(bias)
        # (N, C, L) -> (N, C, L, 1): the student's function takes images
        y, cache = s.batch_norm_forward(_f64(x3).reshape(N, C, L, 1), gamma, beta, eps)
        # the running statistics need the batch's mean and biased variance
        mean, var = x3.mean(axis=(0, 2)), x3.var(axis=(0, 2))
        return y.reshape(N, C, L).astype(x3.dtype), mean, var, _NormSaved(cache)
    return batch_norm_forward


def _batch_norm_backward(s, fb):
    def batch_norm_backward(gy3, x3, mean, saved, weight):
        if not isinstance(saved, _NormSaved):
            fb.add("batch norm backward without the student's forward")
            return batch_norm_backward_reference(gy3, x3, mean, saved, weight)
        N, C, L = gy3.shape
        gx, gw, gb = s.batch_norm_backward(_f64(gy3).reshape(N, C, L, 1), saved.cache)
        return gx.reshape(N, C, L).astype(gy3.dtype), gw, gb  # (N, C, L, 1) -> (N, C, L)
    return batch_norm_backward


def _relu_forward(s, fb):
    def relu_forward(x):
        return s.relu_forward(_f64(x)).astype(x.dtype)
    return relu_forward


def _relu_backward(s, fb):
    def relu_backward(gy, y):
        # the contract passes y; y > 0 exactly where x > 0, so y serves as x
        return s.relu_backward(_f64(gy), _f64(y)).astype(gy.dtype)
    return relu_backward


def _sgd_step(s, fb):
    def sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first):
        if dampening != 0:
            fb.add("SGD with dampening")
            return _sgd_step_reference(param, grad, buf, lr, momentum, dampening,
                                       weight_decay, nesterov, first)
        velocity = numpy.zeros(param.shape) if buf is None or first else _f64(buf)
        p, v = s.sgd_momentum_step(_f64(param), _f64(grad), velocity, lr, momentum,
                                   weight_decay, nesterov)
        param[...] = p  # the contract updates in place
        if buf is not None:
            buf[...] = v
    return sgd_step


ADAPTERS = {
    "conv_naive": {"conv2d_forward": _conv_forward, "conv2d_backward": _conv_backward},
    "im2col": {"im2col": _im2col, "col2im": _col2im},
    "max_pool": {"max_pool2d_forward": _max_pool_forward,
                 "max_pool2d_backward": _max_pool_backward},
    "batch_norm": {"batch_norm_forward": _batch_norm_forward,
                   "batch_norm_backward": _batch_norm_backward},
    "relu": {"relu_forward": _relu_forward, "relu_backward": _relu_backward},
    "sgd_momentum": {"sgd_step": _sgd_step},
}
PLUGGABLE = tuple(ADAPTERS)


@contextlib.contextmanager
def student_kernels(name, module, fallbacks=None):
    """Inside the block, the ``numpy`` backend runs the student's kernels of ``name``."""
    fallbacks = Fallbacks() if fallbacks is None else fallbacks
    table = _backend._kernels
    saved = {op: table.get(("numpy", op)) for op in ADAPTERS[name]}
    try:
        for op, adapter in ADAPTERS[name].items():
            register_kernel("numpy", op)(adapter(module, fallbacks))
        with use_backend("numpy"):
            yield fallbacks
    finally:
        for op, previous in saved.items():
            if previous is None:
                table.pop(("numpy", op), None)
            else:
                table[("numpy", op)] = previous


# ------------------------------------------------------------------- training
class _LeNet5BN(LeNet5):
    """LeNet-5 (modern) with a BatchNorm2d after each convolution, for batch_norm."""

    def __init__(self, num_classes, in_channels, input_size):
        super().__init__(num_classes, in_channels, input_size, "modern")
        self.bn1 = nn.BatchNorm2d(6)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.pool(self.act(self.bn1(self.conv1(x))))
        x = self.pool(self.act(self.bn2(self.conv2(x))))
        x = self.flatten(x)                            # (N, 16, s, s) -> (N, 16*s*s)
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        return self.fc3(x)


def _model(name, ds):
    C, H, _ = ds.image_shape
    if name == "batch_norm":
        return _LeNet5BN(ds.num_classes, C, H), "LeNet-5 (modern) + BatchNorm2d"
    return LeNet5(ds.num_classes, C, H, "modern"), "LeNet-5 (modern)"


def _optimizer(name, params):
    """Adam (lr 0.003) learns digits in one epoch; sgd_momentum needs SGD to be plugged."""
    if name == "sgd_momentum":
        return SGD(params, lr=0.05, momentum=0.9)
    return Adam(params, lr=0.003)


def _optimizer_text(name):
    return "SGD (lr 0.05, momentum 0.9)" if name == "sgd_momentum" else "Adam (lr 0.003)"


def _train_once(name, ds, limit, seed, progress):
    """One epoch of SGD on the digits from ``seed``; the test accuracy."""
    manual_seed(seed)
    model, title = _model(name, ds)
    images, labels = ds.train_images[:limit], ds.train_labels[:limit]
    mean, std = channel_stats(images)
    normalize = T.Normalize(mean, std)
    train = DataLoader(ArrayDataset(images, labels), batch_size=32, shuffle=True,
                       transform=normalize, seed=seed)
    test = DataLoader(ArrayDataset(ds.test_images, ds.test_labels), batch_size=256,
                      transform=normalize)
    optimizer = _optimizer(name, model.parameters())
    trainer = Trainer(model, optimizer, progress=progress, log=None)
    trainer.fit(train, None, epochs=1)
    return trainer.test(test)["test_accuracy"], title


# -------------------------------------------------------------------- timing
def _median_ms(fn, budget=0.3, most=50):
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < most):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(numpy.median(times))


def _bench_case(name, rng):
    """(description, forward kernel name, its args, backward kernel name, args maker,
    torch twin (inputs -> output))."""
    x = rng.standard_normal((32, 6, 8, 8)).astype(numpy.float32)
    if name in ("conv_naive", "im2col"):
        W = rng.standard_normal((16, 6, 5, 5)).astype(numpy.float32)
        b = rng.standard_normal(16).astype(numpy.float32)
        gy = rng.standard_normal((32, 16, 8, 8)).astype(numpy.float32)
        if name == "conv_naive":
            return ("conv2 of LeNet-5: x (32, 6, 8, 8), W (16, 6, 5, 5), padding 2",
                    "conv2d_forward", (x, W, b, 1, 1, 2, 2, 1, 1, 1),
                    "conv2d_backward", (gy, x, W, 1, 1, 2, 2, 1, 1, 1, True, True, True),
                    lambda tf, t: tf.conv2d(t(x), t(W), t(b), padding=2))
        cols = rng.standard_normal((32, 150, 64)).astype(numpy.float32)
        return ("im2col of LeNet-5's conv2: x (32, 6, 8, 8), 5x5 patches, padding 2",
                "im2col", (x, 5, 5, 1, 1, 2, 2, 1, 1),
                "col2im", (cols, x.shape, 5, 5, 1, 1, 2, 2, 1, 1),
                lambda tf, t: tf.unfold(t(x), 5, padding=2))
    if name == "max_pool":
        x = rng.standard_normal((32, 16, 8, 8)).astype(numpy.float32)
        y, argmax = max_pool2d_forward_reference(x, 2, 2, 2, 2, 0, 0, 4, 4)
        gy = numpy.ones_like(y)
        return ("LeNet-5's pool: x (32, 16, 8, 8), 2x2 windows, stride 2",
                "max_pool2d_forward", (x, 2, 2, 2, 2, 0, 0, 4, 4),
                "max_pool2d_backward", (gy, argmax, x.shape),
                lambda tf, t: tf.max_pool2d(t(x), 2))
    if name == "batch_norm":
        x3 = x.reshape(32, 6, 64)
        _, mean, _, inv_std = batch_norm_forward_reference(x3, None, None, 1e-5)
        return ("bn1: x (32, 6, 8, 8)", "batch_norm_forward", (x3, None, None, 1e-5),
                "batch_norm_backward", (x3, x3, mean, inv_std, None),
                lambda tf, t: tf.batch_norm(t(x), None, None, training=True))
    if name == "relu":
        return ("x (32, 6, 8, 8)", "relu_forward", (x,), "relu_backward", (x, x),
                lambda tf, t: tf.relu(t(x)))
    p = rng.standard_normal(10164).astype(numpy.float32)
    g = rng.standard_normal(10164).astype(numpy.float32)
    return ("fc2's weight: 10,164 parameters, momentum 0.9", "sgd_step",
            (p, g, g.copy(), 0.01, 0.9, 0.0, 0.0, False, False), None, None, None)


def _torch_rows(twin):
    """PyTorch's forward and forward+backward minus forward, in ms (None without torch)."""
    if twin is None:
        return None
    try:
        torch = importlib.import_module("torch")  # optional heavy dependency
    except ImportError:
        return None
    tf = torch.nn.functional

    def leaf(a):
        return torch.from_numpy(numpy.ascontiguousarray(a)).requires_grad_(True)

    forward = _median_ms(lambda: twin(tf, leaf))

    def both():
        out = twin(tf, leaf)
        out.backward(torch.ones_like(out))
    return forward, max(0.0, _median_ms(both) - forward)


def _time_table(name, module):
    """Rows (implementation, forward ms, backward ms) on LeNet-5's layer."""
    rng = numpy.random.default_rng(0)
    what, fwd, fargs, bwd, bargs, twin = _bench_case(name, rng)
    rows = []

    def time_kernels(label, get):
        f = get(fwd)
        b = get(bwd) if bwd else None
        fwd_ms = _median_ms(lambda: f(*_copies(fargs)))
        if name == "max_pool" and b is not None and "yours" in label:
            saved = f(*fargs)[1]  # the student's backward needs its own forward's record
            bwd_args = (bargs[0], saved, bargs[2])
        else:
            bwd_args = bargs
        bwd_ms = _median_ms(lambda: b(*bwd_args)) if b is not None else None
        rows.append((label, fwd_ms, bwd_ms))

    if name == "batch_norm":
        with student_kernels(name, module):
            f = kernel(fwd, None)
            saved = f(*fargs)
            b = kernel(bwd, None)
            rows.append(("yours", _median_ms(lambda: f(*fargs)),
                         _median_ms(lambda: b(bargs[0], bargs[1], saved[1], saved[3], None))))
    else:
        with student_kernels(name, module):
            time_kernels("yours", lambda op: kernel(op, None))
    with use_backend("numpy"):
        time_kernels("numpy reference", lambda op: kernel(op, _REFERENCES[op]))
    try:
        with use_backend("numba"):
            time_kernels("numba kernel", lambda op: kernel(op, _REFERENCES[op]))
    except BackendUnavailableError:
        pass
    torch_ms = _torch_rows(twin)
    if torch_ms is not None:
        rows.append(("pytorch (CPU)",) + torch_ms)
    return what, rows


def _copies(args):
    """Fresh copies of the array arguments (sgd_step updates them in place)."""
    return tuple(a.copy() if isinstance(a, numpy.ndarray) else a for a in args)


_REFERENCES = {
    "conv2d_forward": conv2d_forward_reference, "conv2d_backward": conv2d_backward_reference,
    "im2col": im2col_array, "col2im": col2im_array,
    "max_pool2d_forward": max_pool2d_forward_reference,
    "max_pool2d_backward": max_pool2d_backward_reference,
    "batch_norm_forward": batch_norm_forward_reference,
    "batch_norm_backward": batch_norm_backward_reference,
    "relu_forward": relu_forward_reference,
    "relu_backward": relu_backward_reference,
    "sgd_step": _sgd_step_reference,
}


# ----------------------------------------------------------------------- plug
class PlugResult(dict):
    """What ``plug`` measured: accuracies, fallbacks and the timing table."""


def plug(name, directory=".", limit=None, seed=0, progress=None, timing=True) -> PlugResult:
    """Train LeNet-5 on digits with the student's kernels of ``name`` and with the
    references; time the kernels. ``limit``: use only the first N training images."""
    if name not in EXERCISES:
        raise ExerciseError(f"unknown exercise {name!r}; choose one of: {', '.join(EXERCISES)}")
    if name not in ADAPTERS:
        raise ExerciseError(f"exercise {name!r} is not a kernel of the engine; plug works "
                            f"with: {', '.join(PLUGGABLE)}")
    path = exercise_path(name, directory)
    if not os.path.isfile(path):
        raise ExerciseError(f"{path} does not exist; start with `minicnn exercise start "
                            f"{name}`")
    module = load_student(path)
    ds = load_dataset("digits", download=False)
    n = len(ds.train_labels) if limit is None else min(limit, len(ds.train_labels))
    with use_backend("numpy"):
        reference, title = _train_once(name, ds, n, seed, progress)
    with student_kernels(name, module) as fallbacks:
        yours, _ = _train_once(name, ds, n, seed, progress)
    result = PlugResult(exercise=name, model=title, train_images=n,
                        all_train_images=len(ds.train_labels),
                        test_images=len(ds.test_labels), reference_accuracy=reference,
                        your_accuracy=yours, tolerance=TOLERANCE,
                        within=abs(yours - reference) <= TOLERANCE,
                        fallbacks=dict(fallbacks.counts), timing=None)
    if timing:
        result["timing"] = _time_table(name, module)
    return result


def format_plug(r: PlugResult) -> str:
    lines = [f"{r['model']}, one epoch of {_optimizer_text(r['exercise'])}, batch 32, on "
             f"scikit-learn's digits: {r['train_images']} of {r['all_train_images']} "
             f"training images, {r['test_images']} test images, same seed and batches "
             "for both runs",
             f"  test accuracy with the engine's references: {r['reference_accuracy']:.4f}",
             f"  test accuracy with your {r['exercise']} kernels:  {r['your_accuracy']:.4f}"
             f"  ({'within' if r['within'] else 'NOT within'} {r['tolerance']} of the "
             "reference)"]
    for why, count in r["fallbacks"].items():
        lines.append(f"  note: {count} calls fell back to the reference ({why}: not "
                     "covered by the exercise)")
    if r["timing"]:
        what, rows = r["timing"]
        lines.append(f"timing on {what} (median ms):")
        lines.append(f"  {'implementation':<18}{'forward':>10}{'backward':>10}")
        for label, f, b in rows:
            lines.append(f"  {label:<18}{f:>10.3f}{'' if b is None else f'{b:>10.3f}':>10}")
    return "\n".join(lines)
