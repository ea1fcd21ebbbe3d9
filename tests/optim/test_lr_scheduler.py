"""minicnn.optim.lr_scheduler against torch.optim.lr_scheduler: lr trajectories."""
import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minicnn.autograd import Tensor
from minicnn.optim import SGD, lr_scheduler
from minicnn.serialization import load, save

EPOCHS = 25
LRS = (0.1, 0.03)  # two parameter groups with their own rates

SCHEDULES = {
    "step": ("StepLR", {"step_size": 4, "gamma": 0.5}),
    "step_default_gamma": ("StepLR", {"step_size": 7}),
    "multistep": ("MultiStepLR", {"milestones": [3, 8, 8, 15], "gamma": 0.3}),
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    "cosine_zero_floor": ("CosineAnnealingLR", {"T_max": 7}),
}


def optimizers():
    ours = SGD([{"params": [Tensor(numpy.ones(2), requires_grad=True)], "lr": LRS[0]},
                {"params": [Tensor(numpy.ones(3), requires_grad=True)], "lr": LRS[1]}],
               lr=LRS[0], momentum=0.9)
    theirs = torch.optim.SGD(
        [{"params": [torch.ones(2, requires_grad=True)], "lr": LRS[0]},
         {"params": [torch.ones(3, requires_grad=True)], "lr": LRS[1]}],
        lr=LRS[0], momentum=0.9)
    return ours, theirs


def make(name, ours, theirs):
    cls_name, kwargs = SCHEDULES[name]
    return (getattr(lr_scheduler, cls_name)(ours, **kwargs),
            getattr(torch.optim.lr_scheduler, cls_name)(theirs, **kwargs))


def run_epochs(sched, tsched, opt, topt, epochs):
    trajectory, ttrajectory = [], []
    for _ in range(epochs):
        opt.step()   # no gradients: a no-op, but the order PyTorch expects
        topt.step()
        sched.step()
        tsched.step()
        trajectory.append(sched.get_last_lr())
        ttrajectory.append(tsched.get_last_lr())
    return trajectory, ttrajectory


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_trajectory_equals_torch(name):
    opt, topt = optimizers()
    sched, tsched = make(name, opt, topt)
    assert sched.get_last_lr() == tsched.get_last_lr() == list(LRS)
    assert sched.last_epoch == tsched.last_epoch == 0 and sched.base_lrs == list(LRS)
    ours, theirs = run_epochs(sched, tsched, opt, topt, EPOCHS)
    assert ours == theirs  # the same arithmetic: equal to the last bit
    assert [g["lr"] for g in opt.param_groups] == ours[-1]


@given(step_size=st.integers(1, 6), gamma=st.floats(0.05, 1.0))
def test_step_lr_drawn(step_size, gamma):
    opt, topt = optimizers()
    sched = lr_scheduler.StepLR(opt, step_size, gamma)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size, gamma)
    ours, theirs = run_epochs(sched, tsched, opt, topt, 21)
    assert ours == theirs
    # and the closed form base_lr * gamma ** (epoch // step_size)
    numpy.testing.assert_allclose(
        [lrs[0] for lrs in ours],
        [LRS[0] * gamma ** ((e + 1) // step_size) for e in range(21)], rtol=1e-12)


@pytest.mark.parametrize("name", ["step", "multistep", "exponential", "cosine"])
def test_state_dict_resume(tmp_path, name):
    """Save optimizer + scheduler after 9 epochs, restore into new ones, go on: same lrs."""
    opt, topt = optimizers()
    sched, tsched = make(name, opt, topt)
    run_epochs(sched, tsched, opt, topt, 9)
    save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
         tmp_path / "ckpt.npz")
    ckpt = load(tmp_path / "ckpt.npz")
    opt2, _ = optimizers()
    opt2.load_state_dict(ckpt["optimizer"])
    sched2, _ = make(name, opt2, torch.optim.SGD([torch.ones(1)], lr=0.1))
    sched2.load_state_dict(ckpt["scheduler"])
    ours, theirs = run_epochs(sched2, tsched, opt2, topt, 16)
    assert ours == theirs


PLATEAU = {
    "min_rel": ({"patience": 2, "factor": 0.5},
                [1.0, 0.9, 0.95, 0.91, 0.92, 0.85, 0.86, 0.87, 0.88, 0.89, 0.80, 0.8,
                 0.8, 0.8, 0.8, 0.8, 0.79999, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]),
    "cooldown_min_lr": ({"patience": 1, "factor": 0.3, "cooldown": 2, "min_lr": [0.005, 0.0]},
                        [5.0, 6.0, 7.0, 8.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1,
                         3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0, 4.1]),
    "max_abs": ({"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 3},
                [0.1, 0.2, 0.22, 0.24, 0.26, 0.3, 0.31, 0.32, 0.33, 0.34, 0.4, 0.41,
                 0.42, 0.43, 0.44, 0.45, 0.46, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
    "max_rel_eps": ({"mode": "max", "patience": 0, "factor": 0.5, "eps": 0.02},
                    [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                     1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_lr_on_plateau_equals_torch(name):
    kwargs, metrics = PLATEAU[name]
    opt, topt = optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    ours, theirs = [], []
    for metric in metrics:
        sched.step(numpy.float64(metric) if len(ours) % 2 else metric)
        tsched.step(metric)
        ours.append(sched.get_last_lr())
        theirs.append(tsched.get_last_lr())
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
            (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
    assert ours == theirs
    assert len({tuple(lrs) for lrs in ours}) > 1, "the script must trigger a reduction"


def test_validation():
    opt, _ = optimizers()
    with pytest.raises(TypeError, match="StepLR: list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=2)
    with pytest.raises(ValueError, match="step_size must be a positive int, got 0"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="milestones must be non-negative ints"):
        lr_scheduler.MultiStepLR(opt, milestones=[3, -1])
    with pytest.raises(ValueError, match="T_max must be positive"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode 'up' is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="threshold mode 'x' is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="x")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.ExponentialLR(opt, gamma=0.9, last_epoch=3)
