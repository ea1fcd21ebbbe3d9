"""minicnn.optim.SGD against torch.optim.SGD: trajectories, kernel dispatch, validation."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn.autograd import Tensor
from minicnn.backend import _kernels, get_backend
from minicnn.optim import SGD
from minicnn.optim.sgd import _sgd_step_reference

STEPS = 12

CASES = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "dampening": {"momentum": 0.8, "dampening": 0.3},
    "nesterov": {"momentum": 0.9, "nesterov": True},
    "weight_decay": {"weight_decay": 0.05},
    "everything": {"momentum": 0.7, "dampening": 0.1, "weight_decay": 1e-2},
    "nesterov_wd": {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
}


def run_trajectory(pair, dtype, kwargs, lr=0.1, steps=STEPS, seed=0):
    return pair.run_trajectory(SGD, torch.optim.SGD, dtype, dict(kwargs, lr=lr), steps, seed)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_torch(pair, case, dtype):
    opt, topt = run_trajectory(pair, dtype, CASES[case])
    if CASES[case].get("momentum"):
        rtol, atol = pair.tolerance(dtype)
        tstate = topt.state_dict()["state"]
        for i, p_state in opt.state_dict()["state"].items():
            numpy.testing.assert_allclose(p_state["momentum_buffer"],
                                          tstate[i]["momentum_buffer"].numpy(),
                                          rtol=rtol, atol=atol)
    else:
        assert opt.state_dict()["state"] == {}, "no momentum, no buffer (as PyTorch)"


@given(lr=st.floats(0.0, 1.0), momentum=st.floats(0.0, 0.99),
       dampening=st.floats(0.0, 1.0), weight_decay=st.floats(0.0, 0.5),
       nesterov=st.booleans(), seed=st.integers(0, 2**16))
def test_trajectory_drawn_hyperparameters(pair, lr, momentum, dampening, weight_decay,
                                          nesterov, seed):
    if nesterov:  # Nesterov needs momentum and no dampening
        momentum, dampening = max(momentum, 0.1), 0.0
    run_trajectory(pair, numpy.float64, {"momentum": momentum, "dampening": dampening,
                                         "weight_decay": weight_decay,
                                         "nesterov": nesterov}, lr=lr, steps=10, seed=seed)


def test_param_groups_with_own_options_match_torch(pair):
    init, grads = pair.make_data(numpy.float64, STEPS)
    ours, theirs = pair.make_params(init)
    opt = SGD([{"params": ours[:2]}, {"params": [ours[2]], "lr": 0.5, "nesterov": True}],
              lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": theirs[:2]},
                            {"params": [theirs[2]], "lr": 0.5, "nesterov": True}],
                           lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    for k in range(STEPS):
        pair.step_both(opt, topt, ours, theirs, grads[k])
    pair.assert_params_close(ours, theirs, numpy.float64)


def test_parameters_without_grad_are_skipped(pair):
    init, grads = pair.make_data(numpy.float64, 3)
    ours, theirs = pair.make_params(init)
    opt = SGD(ours, lr=0.1, momentum=0.9)
    ours[0].grad = grads[0][0]
    opt.step()
    assert not numpy.array_equal(ours[0].data, init[0])
    numpy.testing.assert_array_equal(ours[1].data, init[1])
    assert ours[1] not in opt.state


def test_changing_lr_between_steps_matches_torch(pair):
    """The velocity keeps gradients, not steps: a new lr applies to all of it at once."""
    init, grads = pair.make_data(numpy.float64, STEPS)
    ours, theirs = pair.make_params(init)
    opt = SGD(ours, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    for k in range(STEPS):
        lr = 0.1 / (1 + k)
        opt.param_groups[0]["lr"] = lr
        topt.param_groups[0]["lr"] = lr
        pair.step_both(opt, topt, ours, theirs, grads[k])
    pair.assert_params_close(ours, theirs, numpy.float64)


def test_update_goes_through_the_sgd_step_kernel(monkeypatch):
    calls = []

    def spy(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first):
        calls.append((buf is None, first, lr, momentum))
        assert _sgd_step_reference(param, grad, buf, lr, momentum, dampening,
                                   weight_decay, nesterov, first) is None

    monkeypatch.setitem(_kernels, (get_backend(), "sgd_step"), spy)
    p = Tensor(numpy.ones(3), requires_grad=True)
    plain = SGD([p], lr=0.5)
    p.grad = numpy.ones(3)
    plain.step()
    numpy.testing.assert_array_equal(p.data, [0.5, 0.5, 0.5])
    heavy = SGD([p], lr=0.5, momentum=0.9)
    heavy.step()
    heavy.step()
    assert calls == [(True, False, 0.5, 0.0), (False, True, 0.5, 0.9),
                     (False, False, 0.5, 0.9)]


def test_reference_kernel_contract():
    """In place on param and buf, grad untouched, returns None (kernels/README.md)."""
    rng = numpy.random.default_rng(1)
    param, grad = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    p0, g0 = param.copy(), grad.copy()
    buf = numpy.empty_like(param)
    out = _sgd_step_reference(param, grad, buf, 0.1, 0.9, 0.0, 0.01, True, True)
    assert out is None
    numpy.testing.assert_array_equal(grad, g0)
    g = g0 + 0.01 * p0
    numpy.testing.assert_allclose(buf, g, rtol=1e-15)
    numpy.testing.assert_allclose(param, p0 - 0.1 * (g + 0.9 * g), rtol=1e-14)


def test_zero_grad():
    p = Tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    opt = SGD([p], lr=0.1)
    p.grad = numpy.ones(3, dtype=numpy.float32)
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and not p.grad.any()
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -0.1}, "Invalid learning rate: -0.1"),
    ({"lr": 0.1, "momentum": -0.5}, "Invalid momentum value: -0.5"),
    ({"lr": 0.1, "weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
    ({"lr": 0.1, "nesterov": True}, "Nesterov momentum requires a momentum and zero"),
    ({"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
     "Nesterov momentum requires a momentum and zero dampening"),
])
def test_bad_hyperparameters(kwargs, message):
    p = Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=message):
        SGD([p], **kwargs)
    with pytest.raises(ValueError, match=message):  # a group's own options are checked too
        SGD([{"params": [p], **kwargs}], lr=0.1)


def test_bad_params():
    p = Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 1 of a group is a ndarray"):
        SGD([p, numpy.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        SGD([p * 2], lr=0.1)


def test_bad_grad_is_caught_before_any_update():
    p = Tensor(numpy.ones((2, 3)), requires_grad=True)
    q = Tensor(numpy.ones(4), requires_grad=True)
    opt = SGD([q, p], lr=0.1)
    q.grad = numpy.ones(4)
    p.grad = numpy.ones((3, 2))
    with pytest.raises(ValueError, match=r"parameter 1 of group 0 has shape \(2, 3\) but "
                                         r"its grad has shape \(3, 2\)"):
        opt.step()
    numpy.testing.assert_array_equal(q.data, numpy.ones(4))
    p.grad = numpy.ones((2, 3), dtype=numpy.float32)
    with pytest.raises(TypeError, match="is float64 on cpu but its grad is float32"):
        opt.step()
