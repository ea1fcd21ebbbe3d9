"""minicnn.optim.Adam / AdamW against torch.optim: trajectories, state, validation."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn.autograd import Tensor
from minicnn.optim import Adam, AdamW

STEPS = 12

CASES = {
    "default": {},
    "weight_decay": {"weight_decay": 0.1},
    "amsgrad": {"amsgrad": True},
    "amsgrad_wd": {"amsgrad": True, "weight_decay": 0.05, "lr": 0.05},
    "betas_eps": {"betas": (0.5, 0.9), "eps": 1e-3, "lr": 0.2},
}


def run_trajectory(pair, ours_cls, torch_cls, dtype, kwargs, steps=STEPS, seed=0):
    return pair.run_trajectory(ours_cls, torch_cls, dtype, kwargs, steps, seed)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_adam_trajectory_matches_torch(pair, case, dtype):
    opt, topt = run_trajectory(pair, Adam, torch.optim.Adam, dtype, CASES[case])
    rtol, atol = pair.tolerance(dtype)
    tstate = topt.state_dict()["state"]
    for i, p_state in opt.state_dict()["state"].items():
        assert p_state["step"] == STEPS == int(tstate[i]["step"])
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert (key in p_state) == (key in tstate[i])
            if key in p_state:
                assert p_state[key].dtype == dtype
                numpy.testing.assert_allclose(p_state[key], tstate[i][key].numpy(),
                                              rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.3, "amsgrad": True}])
def test_adamw_trajectory_matches_torch(pair, dtype, kwargs):
    run_trajectory(pair, AdamW, torch.optim.AdamW, dtype, dict(kwargs, lr=0.05))


@given(lr=st.floats(1e-4, 0.5), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
       eps=st.floats(1e-10, 1e-2), weight_decay=st.floats(0.0, 0.5),
       amsgrad=st.booleans(), seed=st.integers(0, 2**16))
def test_adam_drawn_hyperparameters(pair, lr, beta1, beta2, eps, weight_decay, amsgrad,
                                    seed):
    kwargs = {"lr": lr, "betas": (beta1, beta2), "eps": eps,
              "weight_decay": weight_decay, "amsgrad": amsgrad}
    run_trajectory(pair, Adam, torch.optim.Adam, numpy.float64, kwargs, steps=10,
                   seed=seed)


def test_first_step_moves_every_weight_by_about_lr():
    """Bias correction: step 1 is lr * g / (|g| + eps'), about lr whatever g's scale."""
    p = Tensor(numpy.zeros(4), requires_grad=True)
    opt = Adam([p], lr=0.01)
    p.grad = numpy.array([1e-3, -2.0, 50.0, -1e4])
    opt.step()
    numpy.testing.assert_allclose(p.data, [-0.01, 0.01, -0.01, 0.01], rtol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": -1.0}, "Invalid learning rate: -1.0"),
    ({"eps": -1e-8}, "Invalid epsilon value"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ({"betas": (0.9,)}, "betas must be a pair"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
])
def test_bad_hyperparameters(kwargs, message):
    p = Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=message):
        Adam([p], **kwargs)
    with pytest.raises(ValueError, match=message):
        AdamW([{"params": [p], **kwargs}])
