"""The Optimizer base: param_groups, state_dict / load_state_dict (PyTorch's format)."""
import numpy
import pytest
import torch

from minicnn.autograd import Tensor
from minicnn.optim import SGD, Adam, Optimizer
from minicnn.serialization import load, save

MAKERS = {
    "sgd": (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                       weight_decay=1e-3)),
    "adam": (lambda ps: Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.01),
             lambda ps: torch.optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.01)),
}


def copy_params(params):
    return [Tensor(p.data.copy(), requires_grad=True) for p in params]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = g.copy()


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_dict_resume_continues_identically(pair, tmp_path, name):
    """Stop after 5 steps, save, restore into fresh objects: the next 6 steps are
    bit for bit those of the run that never stopped."""
    make, _ = MAKERS[name]
    init, grads = pair.make_data(numpy.float64, 11)
    ours, _ = pair.make_params(init)
    opt = make(ours)
    for k in range(5):
        set_grads(ours, grads[k])
        opt.step()
    save({"params": [p.data for p in ours], "optimizer": opt.state_dict()},
         tmp_path / "ckpt.npz")
    for k in range(5, 11):
        set_grads(ours, grads[k])
        opt.step()

    ckpt = load(tmp_path / "ckpt.npz")
    resumed = [Tensor(a, requires_grad=True) for a in ckpt["params"]]
    fresh = make(resumed)
    fresh.load_state_dict(ckpt["optimizer"])
    for k in range(5, 11):
        set_grads(resumed, grads[k])
        fresh.step()
    for p, q in zip(ours, resumed):
        numpy.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_dict_format_is_torchs(pair, name):
    make, make_torch = MAKERS[name]
    init, grads = pair.make_data(numpy.float64, 3)
    ours, theirs = pair.make_params(init)
    opt, topt = make(ours), make_torch(theirs)
    for k in range(3):
        pair.step_both(opt, topt, ours, theirs, grads[k])
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd) == set(tsd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2]
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
    for group, tgroup in zip(sd["param_groups"], tsd["param_groups"]):
        assert group["params"] == tgroup["params"] == [0, 1, 2]
        for key, value in group.items():
            assert tgroup[key] == value, key


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_load_a_torch_state_dict(pair, name):
    """A torch.optim state dict (tensors turned into arrays) resumes like torch."""
    make, make_torch = MAKERS[name]
    init, grads = pair.make_data(numpy.float64, 10)
    ours, theirs = pair.make_params(init)
    topt = make_torch(theirs)
    for k in range(4):
        for p, g in zip(theirs, grads[k]):
            p.grad = torch.from_numpy(g.copy())
        topt.step()
    ours = [Tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    opt = make(ours)
    opt.load_state_dict(pair.to_numpy_tree(topt.state_dict()))
    for k in range(4, 10):
        pair.step_both(opt, topt, ours, theirs, grads[k])
    pair.assert_params_close(ours, theirs, numpy.float64)


def test_state_dict_holds_copies():
    p = Tensor(numpy.ones(3), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = numpy.ones(3)
    opt.step()
    sd = opt.state_dict()
    saved = sd["state"][0]["momentum_buffer"].copy()
    opt.step()
    numpy.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], saved)


def test_load_state_dict_keeps_param_dtype_and_uses_saved_options():
    p = Tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict({"state": {0: {"momentum_buffer": numpy.arange(3.0)}},
                         "param_groups": [{"lr": 0.25, "momentum": 0.5, "dampening": 0,
                                           "weight_decay": 0, "nesterov": False,
                                           "params": [0]}]})
    assert opt.param_groups[0]["lr"] == 0.25 and opt.param_groups[0]["params"][0] is p
    assert opt.state[p]["momentum_buffer"].dtype == numpy.float32


def test_load_state_dict_mismatches():
    a = Tensor(numpy.ones(3), requires_grad=True)
    b = Tensor(numpy.ones(2), requires_grad=True)
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="has 2 parameter groups but the optimizer has 1"):
        opt.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    one = SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters but the optimizer's "
                                         "group 0 has 1"):
        one.load_state_dict(sd)
    bad = {"state": {0: {"momentum_buffer": numpy.ones(4)}},
           "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 of group 0 has "
                                         r"shape \(4,\) but the parameter has shape \(3,\)"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and "):
        opt.load_state_dict({"param_groups": []})


def test_add_param_group_and_defaults():
    a = Tensor(numpy.ones(3), requires_grad=True)
    b = Tensor(numpy.ones(2), requires_grad=True)
    opt = SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": [Tensor(numpy.ones(1))], "lr": -1})
    assert isinstance(opt, Optimizer) and "Parameter Group 1" in repr(opt)


def test_closure_loss_is_returned():
    p = Tensor(numpy.array([3.0]), requires_grad=True)
    opt = SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0
    numpy.testing.assert_allclose(p.data, [3.0 - 0.1 * 6.0])
