"""Helpers for the minicnn.nn tests: a layer-vs-torch.nn parity check."""
import numpy
import pytest
import torch

import minicnn
from minicnn import Tensor
from minicnn.testing import default_tolerance

TORCH_DTYPE = {numpy.dtype(numpy.float32): torch.float32,
               numpy.dtype(numpy.float64): torch.float64}


def _assert_close(ours, theirs, dtype, what):
    rtol, atol = default_tolerance(dtype)
    if dtype == numpy.float32:
        atol = 1e-5 * max(1.0, float(numpy.abs(theirs).max(initial=0.0)))
    numpy.testing.assert_allclose(numpy.asarray(ours), theirs, rtol=rtol, atol=atol,
                                  err_msg=what)


def check_layer_parity(ours, theirs, x, train=True, steps=1, seed=0):
    """Run a minicnn layer and the torch.nn layer on the same input and weights.

    The torch layer's state dict is loaded into ours (so this also checks that
    keys and shapes agree). For every step compares the output, the input
    gradient and every parameter gradient under a random upstream gradient,
    then the state dicts (BatchNorm's running statistics).
    """
    dtype = numpy.dtype(x.dtype)
    theirs = theirs.to(TORCH_DTYPE[dtype])
    ours.to(dtype)
    # a torch state dict converted to NumPy arrays loads directly
    ours.load_state_dict({k: v.detach().numpy().copy()
                          for k, v in theirs.state_dict().items()})
    ours.train(train)
    theirs.train(train)
    rng = numpy.random.default_rng(seed)
    for step in range(steps):
        xs = x if step == 0 else rng.standard_normal(x.shape).astype(dtype)
        x_ours = Tensor(xs.copy(), requires_grad=True)
        x_theirs = torch.tensor(xs, requires_grad=True)
        y_ours = ours(x_ours)
        y_theirs = theirs(x_theirs)
        y_np = y_theirs.detach().numpy()
        assert y_ours.shape == y_np.shape, (y_ours.shape, y_np.shape)
        assert y_ours.dtype == dtype
        _assert_close(y_ours.numpy(), y_np, dtype, f"step {step}: forward output")
        g = rng.standard_normal(y_np.shape).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        y_ours.backward(g)
        y_theirs.backward(torch.from_numpy(g))
        _assert_close(x_ours.grad, x_theirs.grad.numpy(), dtype, f"step {step}: input grad")
        torch_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert p.grad is not None, f"{name} got no gradient"
            _assert_close(p.grad, torch_params[name].grad.numpy(), dtype,
                          f"step {step}: gradient of {name}")
        torch_state = theirs.state_dict()
        for key, value in ours.state_dict().items():
            expected = torch_state[key].numpy()
            if expected.dtype.kind == "f":
                _assert_close(value, expected, dtype, f"step {step}: state {key}")
            else:
                numpy.testing.assert_array_equal(value, expected, err_msg=key)
    return ours, theirs


@pytest.fixture(scope="session")
def layer_parity():
    return check_layer_parity


@pytest.fixture(autouse=True, scope="module")
def numpy_backend():
    """The default backend of these tests: the NumPy references.

    The parity tests (layer vs torch.nn) name the shared kernel_backend fixture
    (tests/conftest.py), which runs each of them once per kernel backend inside
    this default. The other tests (state dicts, containers, init, repr, errors)
    are about the modules, not the kernels: they run once, on the references,
    so the result does not depend on whether numba is installed."""
    with minicnn.use_backend("numpy"):
        yield
