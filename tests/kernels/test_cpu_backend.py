"""The numba backend end to end: set_backend('numba') routes the ops to the
kernels of minicnn.kernels.cpu, gives the same values and gradients as the
NumPy references, and numpy keeps working where numba is absent."""
import importlib
import subprocess
import sys
import textwrap

import numpy
import pytest

import minicnn
import minicnn.functional as F

# the module itself: the name minicnn.backend is the context manager
backend_module = importlib.import_module("minicnn.backend")

pytest.importorskip("numba")
import minicnn.kernels.cpu  # noqa: E402,F401  (registers the numba kernels)

KERNELS = ["im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward",
           "avg_pool2d_forward", "avg_pool2d_backward", "lrn_forward", "lrn_backward",
           "batch_norm_forward", "batch_norm_backward", "relu_forward", "relu_backward",
           "dropout_forward", "softmax_cross_entropy_forward",
           "softmax_cross_entropy_backward", "sgd_step", "conv2d_forward", "conv2d_backward",
           "batch_norm_relu_forward", "batch_norm_relu_backward", "add_relu_forward",
           "relu_inplace", "conv2d_relu_forward"]


def test_every_contract_kernel_is_registered_for_numba():
    for name in KERNELS:
        assert ("numba", name) in backend_module._kernels, name


def _small_net(x, params, target):
    """conv-bn-relu-maxpool, a residual conv block, LRN, avgpool, dropout, linear, loss."""
    w1, w2, w3, g, b, fc = params
    y = F.relu(F.batch_norm(F.conv2d(x, w1, stride=2, padding=3), None, None, g, b,
                            training=True))
    y = F.max_pool2d(y, 3, stride=2, padding=1)
    y = F.relu(y + F.conv2d(F.relu(F.conv2d(y, w2, padding=1)), w3))  # 3x3 then 1x1
    y = F.local_response_norm(y, size=3)
    y = F.avg_pool2d(y, 2).reshape(y.shape[0], -1)
    minicnn.manual_seed(0)
    y = F.dropout(y, p=0.25)
    return F.cross_entropy(F.linear(y, fc), target, label_smoothing=0.1)


def _run(name, arrays, target):
    with minicnn.use_backend(name):
        params = [minicnn.Tensor(a.copy(), requires_grad=True) for a in arrays]
        loss = _small_net(params[0], params[1:], target)
        loss.backward()
        return loss.data, [p.grad for p in params]


def _arrays(rng, dtype):
    shapes = [(2, 3, 16, 16), (8, 3, 7, 7), (8, 8, 3, 3), (8, 8, 1, 1), (8,), (8,), (5, 32)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def test_numba_routes_the_ops_to_its_kernels(monkeypatch):
    # wrap every registered numba kernel with a counter, then run the net
    calls = {}

    def counting(name, fn):
        def wrapped(*args):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args)
        return wrapped

    for name in KERNELS:
        key = ("numba", name)
        monkeypatch.setitem(backend_module._kernels, key,
                            counting(name, backend_module._kernels[key]))
    rng = numpy.random.default_rng(5)
    target = numpy.array([1, 3])
    _run("numpy", _arrays(rng, numpy.float32), target)
    assert calls == {}  # the numpy backend never touches them
    _run("numba", _arrays(rng, numpy.float32), target)
    for name in ["conv2d_forward", "conv2d_backward", "batch_norm_forward",
                 "batch_norm_backward", "relu_forward", "relu_backward",
                 "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                 "avg_pool2d_backward", "lrn_forward", "lrn_backward", "dropout_forward",
                 "softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]:
        assert calls.get(name, 0) >= 1, name


@pytest.mark.parametrize("dtype, rtol", [(numpy.float32, 1e-4), (numpy.float64, 1e-10)])
def test_small_network_same_loss_and_gradients_on_numpy_and_numba(dtype, rtol):
    rng = numpy.random.default_rng(6)
    arrays = _arrays(rng, dtype)
    target = numpy.array([0, 4])
    loss_np, grads_np = _run("numpy", arrays, target)
    loss_nb, grads_nb = _run("numba", arrays, target)
    numpy.testing.assert_allclose(loss_nb, loss_np, rtol=rtol)
    for a, e in zip(grads_nb, grads_np):
        assert a.dtype == e.dtype
        numpy.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * numpy.abs(e).max())


def test_resnet18_forward_backward_same_on_numpy_and_numba():
    resnet = pytest.importorskip("minicnn.zoo.resnet")
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((2, 3, 32, 32))
    target = numpy.array([2, 7])
    results = []
    for name in ("numpy", "numba"):
        minicnn.manual_seed(0)
        model = resnet.resnet18(num_classes=10).double()
        with minicnn.use_backend(name):
            loss = F.cross_entropy(model(minicnn.Tensor(x)), target)
            loss.backward()
        results.append((loss.data, [p.grad for p in model.parameters()]))
    (loss_np, grads_np), (loss_nb, grads_nb) = results
    numpy.testing.assert_allclose(loss_nb, loss_np, rtol=1e-10)
    assert len(grads_np) == len(grads_nb) == 62
    for a, e in zip(grads_nb, grads_np):
        numpy.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9 * numpy.abs(e).max())


def test_sgd_optimizer_runs_the_numba_step(monkeypatch):
    calls = []
    original = backend_module._kernels[("numba", "sgd_step")]
    monkeypatch.setitem(backend_module._kernels, ("numba", "sgd_step"),
                        lambda *args: calls.append(1) or original(*args))
    rng = numpy.random.default_rng(8)
    start = rng.standard_normal((4, 3)).astype(numpy.float32)
    grad = rng.standard_normal((4, 3)).astype(numpy.float32)
    finals = []
    for name in ("numpy", "numba"):
        p = minicnn.Tensor(start.copy(), requires_grad=True)
        opt = minicnn.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)
        with minicnn.use_backend(name):
            for _ in range(3):
                p.grad = grad.copy()
                opt.step()
        finals.append(p.data)
    assert len(calls) == 3
    numpy.testing.assert_allclose(finals[1], finals[0], rtol=1e-5, atol=1e-6)


def test_numpy_keeps_working_without_numba():
    # a fresh interpreter in which 'import numba' fails
    code = textwrap.dedent("""
        import sys
        sys.modules['numba'] = None          # makes 'import numba' raise ImportError
        import numpy
        import minicnn
        import minicnn.functional as F
        import minicnn.kernels
        assert minicnn.get_backend() == 'numpy', minicnn.get_backend()
        try:
            minicnn.set_backend('numba')
        except minicnn.BackendUnavailableError as e:
            assert 'numba' in str(e)
        else:
            raise AssertionError('numba backend accepted without numba')
        x = minicnn.Tensor(numpy.ones((1, 1, 4, 4)), requires_grad=True)
        y = F.max_pool2d(F.relu(F.conv2d(x, numpy.ones((2, 1, 3, 3)), padding=1)), 2)
        y.sum().backward()
        assert 'minicnn.kernels.cpu' not in sys.modules
        print(float(y.data.sum()), float(x.grad.sum()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["72.0", "72.0"]  # 2 channels x 4 windows x 9


def test_small_kernels_run_on_one_thread_and_large_ones_keep_the_users_limit():
    import numba

    from minicnn.kernels.cpu import _threads, elementwise

    # the user's limit, set explicitly: an earlier small kernel in this process
    # (any test of the numba backend) may have left numba on 1 thread
    limit = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(limit)
    try:
        elementwise.relu_forward(numpy.ones(10))
        assert numba.get_num_threads() == 1
        elementwise.relu_forward(numpy.ones(_threads.SERIAL_BELOW))
        assert numba.get_num_threads() == limit
        numba.set_num_threads(1)  # the user's own limit survives large kernels
        elementwise.relu_forward(numpy.ones(_threads.SERIAL_BELOW))
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(limit)
        elementwise.relu_forward(numpy.ones(_threads.SERIAL_BELOW))
    assert numba.get_num_threads() == limit
