"""CUDA vs NumPy on a real GPU: every op forward and backward, and a ResNet-18 step.

Each test runs the same minicnn code twice, on NumPy data (the references)
and on CuPy data (the 'cuda' kernels, dispatched by the data's type), and
compares outputs and gradients. Ops run once with the CUDA C kernels and
once with their Numba CUDA twins (``kernel_source``). float64 must agree to
1e-9 relative (cuBLAS and OpenBLAS sum in different orders), float32 to 1e-4.

Skipped without a working GPU (see conftest.py); run with ``make test-gpu``.
"""
import importlib

import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import Tensor, optim

TOL = {numpy.float32: dict(rtol=1e-4, atol=1e-5), numpy.float64: dict(rtol=1e-9, atol=1e-11)}
DTYPES = [numpy.float32, numpy.float64]


def to_host(a):
    return a.get() if hasattr(a, "get") else a


def assert_close(got, want, dtype, what):
    got, want = to_host(got), to_host(want)
    assert got.shape == want.shape, what
    numpy.testing.assert_allclose(got, want, err_msg=what, **TOL[dtype])


def run_both(cp, fn, arrays, dtype, seed=0, grad_of=None):
    """fn(*tensors) on CPU and GPU copies of ``arrays``; compares y and every gradient.

    ``grad_of`` lists the indices of the float inputs that get gradients
    (default: all). Returns (cpu output, gpu output).
    """
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    results = []
    for device in ("cpu", "cuda"):
        tensors = []
        for i, a in enumerate(arrays):
            data = a.astype(dtype) if a.dtype.kind == "f" else a
            if device == "cuda":
                data = cp.asarray(data)
            tensors.append(Tensor(data, requires_grad=i in grad_of and a.dtype.kind == "f"))
        minicnn.manual_seed(seed)  # dropout draws the same units on both
        y = fn(*tensors)
        gy = numpy.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        y.backward(cp.asarray(gy) if device == "cuda" else gy)
        results.append((y, [t.grad for t in tensors]))
    (y_cpu, g_cpu), (y_gpu, g_gpu) = results
    assert y_gpu.device == "cuda"
    assert_close(y_gpu.data, y_cpu.data, dtype, "output")
    for i in grad_of:
        if g_cpu[i] is not None:
            assert g_gpu[i] is not None, f"input {i} got no gradient on the GPU"
            assert_close(g_gpu[i], g_cpu[i], dtype, f"gradient of input {i}")
    return y_cpu, y_gpu


def randn(*shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


CONV_CASES = [  # (x shape, weight shape, stride, padding, dilation, groups)
    ((2, 3, 9, 9), (4, 3, 3, 3), 1, 1, 1, 1),
    ((2, 4, 8, 7), (6, 2, 3, 3), 2, 1, 1, 2),
    ((1, 3, 12, 12), (8, 3, 7, 7), 2, 3, 1, 1),      # a ResNet-style stem
    ((2, 5, 6, 6), (7, 5, 1, 1), 1, 0, 1, 1),        # 1x1: no im2col
    ((2, 5, 7, 7), (3, 5, 1, 1), 2, 0, 1, 1),        # strided 1x1
    ((2, 2, 9, 9), (3, 2, 3, 2), (2, 1), (1, 0), 2, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(cp, kernel_source, case, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = case
    arrays = [randn(*x_shape), randn(*w_shape, seed=1), randn(w_shape[0], seed=2)]
    run_both(cp, lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding,
                                          dilation=dilation, groups=groups), arrays, dtype)


def test_conv2d_in_workspace_chunks(cp, kernel_source):
    previous = minicnn.get_workspace()
    minicnn.set_workspace(4096)  # a few samples per chunk
    try:
        arrays = [randn(5, 3, 8, 8), randn(4, 3, 3, 3, seed=1)]
        run_both(cp, lambda x, w: F.conv2d(x, w, padding=1), arrays, numpy.float64)
    finally:
        minicnn.set_workspace(previous)


@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_col2im_kernels_are_exact_and_deterministic(cp, kernel_source, dtype):
    from minicnn.functional.conv import col2im_array, im2col_array
    from minicnn.kernels.cuda import conv
    x = randn(2, 3, 10, 9).astype(dtype)
    geo = (3, 2, 2, 1, 1, 1, 2, 1)
    cols = conv.im2col(cp.asarray(x), *geo)
    numpy.testing.assert_array_equal(cols.get(), im2col_array(x, *geo))
    g = randn(*cols.shape, seed=3).astype(dtype)
    first = conv.col2im(cp.asarray(g), x.shape, *geo)
    second = conv.col2im(cp.asarray(g), x.shape, *geo)
    numpy.testing.assert_array_equal(first.get(), second.get())  # no atomics
    assert_close(first, col2im_array(g, x.shape, *geo), dtype, "col2im")


POOL_CASES = [  # (kernel_size, stride, padding, ceil_mode)
    (2, 2, 0, False), (3, 2, 1, False), (3, 2, 1, True), ((2, 3), (1, 2), (1, 0), True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d(cp, kernel_source, case, dtype):
    k, s, p, ceil = case
    run_both(cp, lambda x: F.max_pool2d(x, k, s, p, ceil_mode=ceil), [randn(2, 3, 9, 8)],
             dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d(cp, kernel_source, case, count_include_pad, dtype):
    k, s, p, ceil = case
    run_both(cp, lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil,
                                        count_include_pad=count_include_pad),
             [randn(2, 3, 9, 8)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_pools(cp, kernel_source, dtype):
    run_both(cp, lambda x: F.adaptive_avg_pool2d(x, (1, 1)), [randn(2, 3, 5, 5)], dtype)
    run_both(cp, lambda x: F.adaptive_max_pool2d(x, (2, 3)), [randn(2, 3, 6, 7)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 7), (4, 300, 3, 3)])  # 300: several blocks
def test_batch_norm_training(cp, kernel_source, shape, dtype):
    C = shape[1]
    stats = []  # (running mean, running var) of the CPU run, then of the GPU run

    def bn(x, w, b):
        xp = minicnn.get_array_module(x)
        mean, var = xp.zeros(C, dtype=dtype), xp.ones(C, dtype=dtype)
        stats.append((mean, var))
        return F.batch_norm(x, mean, var, w, b, training=True, momentum=0.1, eps=1e-5)

    arrays = [randn(*shape) * 2 + 1, randn(C, seed=1), randn(C, seed=2)]
    run_both(cp, bn, arrays, dtype)
    (cpu_mean, cpu_var), (gpu_mean, gpu_var) = stats
    assert_close(gpu_mean, cpu_mean, dtype, "running mean")  # updated alike
    assert_close(gpu_var, cpu_var, dtype, "running var")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 2, 5])
def test_local_response_norm(cp, kernel_source, size, dtype):
    run_both(cp, lambda x: F.local_response_norm(x, size, alpha=1e-2, beta=0.75, k=2.0),
             [randn(2, 7, 3, 4)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_and_dropout(cp, kernel_source, dtype):
    run_both(cp, F.relu, [randn(3, 4, 5)], dtype)
    y_cpu, y_gpu = run_both(cp, lambda x: F.dropout(x, p=0.3, training=True),
                            [randn(4, 50)], dtype)
    assert 0 < int((to_host(y_gpu.data) == 0).sum()) < 200  # something was dropped


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [3, 10, 1000])  # 1000: rows longer than one block
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy(cp, kernel_source, K, label_smoothing, dtype):
    target = numpy.random.default_rng(4).integers(0, K, 6).astype(numpy.int64)
    target[1] = -100  # ignored

    def loss(logits, t):
        return F.cross_entropy(logits, t, label_smoothing=label_smoothing)

    run_both(cp, loss, [randn(6, K) * 3, target], dtype, grad_of=[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_steps(cp, kernel_source, nesterov, dtype):
    params = {}
    for device in ("cpu", "cuda"):
        p = Tensor(randn(3, 4).astype(dtype), requires_grad=True)
        if device == "cuda":
            p = Tensor(cp.asarray(p.data), requires_grad=True)
        opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=nesterov)
        for step in range(3):
            g = randn(3, 4, seed=10 + step).astype(dtype)
            p.grad = cp.asarray(g) if device == "cuda" else g
            opt.step()
        params[device] = p.data
    assert_close(params["cuda"], params["cpu"], dtype, "parameter after 3 SGD steps")


def _resnet18():
    try:
        from minicnn.zoo import resnet18
    except ImportError:
        pytest.skip("minicnn.zoo.resnet18 is not available")
    return resnet18(num_classes=10)


def test_resnet18_training_step_matches_numpy(cp, kernel_source):
    """Forward, loss, backward and one SGD-momentum step, float64, on both devices."""
    minicnn.manual_seed(0)
    cpu_model = _resnet18().double()
    gpu_model = _resnet18().double()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.to("cuda")
    x = randn(2, 3, 32, 32)
    target = numpy.array([3, 7], dtype=numpy.int64)
    losses, grads, after = {}, {}, {}
    for device, model in (("cpu", cpu_model), ("cuda", gpu_model)):
        model.train()
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        data = cp.asarray(x) if device == "cuda" else x
        labels = cp.asarray(target) if device == "cuda" else target
        loss = F.cross_entropy(model(Tensor(data)), labels)
        opt.zero_grad()
        loss.backward()
        losses[device] = loss.item()
        grads[device] = {n: to_host(p.grad) for n, p in model.named_parameters()}
        opt.step()
        after[device] = {n: to_host(a) for n, a in model.state_dict().items()}
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-9)
    assert grads["cuda"].keys() == grads["cpu"].keys()
    for name, g in grads["cpu"].items():
        numpy.testing.assert_allclose(grads["cuda"][name], g, rtol=1e-7, atol=1e-10,
                                      err_msg=name)
    for name, value in after["cpu"].items():  # parameters and BN running stats
        numpy.testing.assert_allclose(after["cuda"][name], value, rtol=1e-7, atol=1e-10,
                                      err_msg=name)


def test_info_reports_the_gpu(cp):
    report = importlib.import_module("minicnn.tools.info").info()
    assert not report["gpu"].startswith("no GPU"), report["gpu"]
    assert report["cupy"] == cp.__version__
