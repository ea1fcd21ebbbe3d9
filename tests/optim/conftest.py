"""Helpers for tests/optim: drive a minicnn optimizer and its torch.optim twin
with the same gradients. Test files get them through the ``pair`` fixture."""
import types

import numpy
import pytest
import torch

from minicnn.autograd import Tensor

SHAPES = [(3, 4), (5,), ()]


def make_data(dtype, steps, seed=0, shapes=SHAPES):
    """Initial weights and one gradient per parameter per step."""
    rng = numpy.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def make_params(init):
    ours = [Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return ours, theirs


def step_both(opt, topt, ours, theirs, grads):
    """One step of both optimizers with the same gradient arrays."""
    for p, g in zip(ours, grads):
        p.grad = g.copy()
    for p, g in zip(theirs, grads):
        p.grad = torch.from_numpy(g.copy())
    opt.step()
    topt.step()


def tolerance(dtype):
    return (1e-12, 1e-13) if dtype == numpy.float64 else (1e-5, 1e-6)


def assert_params_close(ours, theirs, dtype, step=None):
    rtol, atol = tolerance(dtype)
    for i, (p, t) in enumerate(zip(ours, theirs)):
        assert p.data.dtype == dtype, f"parameter {i} changed dtype to {p.data.dtype}"
        numpy.testing.assert_allclose(p.data, t.detach().numpy(), rtol=rtol, atol=atol,
                                      err_msg=f"parameter {i} after step {step}")


def run_trajectory(ours_cls, torch_cls, dtype, kwargs, steps, seed=0):
    """``steps`` updates of ``ours_cls(params, **kwargs)`` and its torch twin on the
    same gradients, the parameters compared after every step; returns both."""
    init, grads = make_data(dtype, steps, seed)
    ours, theirs = make_params(init)
    opt, topt = ours_cls(ours, **kwargs), torch_cls(theirs, **kwargs)
    data_ids = [id(p.data) for p in ours]
    for k in range(steps):
        step_both(opt, topt, ours, theirs, grads[k])
        assert_params_close(ours, theirs, dtype, step=k)
    assert [id(p.data) for p in ours] == data_ids, "the update must happen in place"
    return opt, topt


def to_numpy_tree(obj):
    """A torch state dict with every tensor turned into a NumPy array."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().numpy().copy()
    if isinstance(obj, dict):
        return {k: to_numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_numpy_tree(v) for v in obj)
    return obj


@pytest.fixture(scope="session")
def pair():
    """The helpers above (session-scoped, so hypothesis tests may use it)."""
    return types.SimpleNamespace(
        SHAPES=SHAPES, make_data=make_data, make_params=make_params, step_both=step_both,
        tolerance=tolerance, assert_params_close=assert_params_close,
        run_trajectory=run_trajectory, to_numpy_tree=to_numpy_tree)
