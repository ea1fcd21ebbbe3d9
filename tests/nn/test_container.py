"""Sequential, ModuleList and ModuleDict; and a whole small CNN built from them:
a float64 gradcheck of its parameters, and overfitting one batch."""
from collections import OrderedDict

import numpy
import pytest
import torch

import minicnn
from minicnn import Tensor, nn


def test_sequential_chains_and_indexes_like_torch():
    layers = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)]
    seq = nn.Sequential(*layers)
    x = Tensor(numpy.random.default_rng(0).standard_normal((5, 3)).astype(numpy.float32))
    numpy.testing.assert_array_equal(seq(x).data, layers[2](layers[1](layers[0](x))).data)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]      # keys kept, as torch
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        seq[3]
    with pytest.raises(TypeError, match="Sequential indices must be integers or slices"):
        seq["0"]
    with pytest.raises(TypeError, match="Sequential: int is not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_sequential_editing_matches_torch_naming():
    def build(lib):
        seq = lib.Sequential(lib.Linear(1, 2), lib.ReLU())
        seq.append(lib.Linear(2, 3))
        seq.insert(1, lib.Tanh())
        seq.extend([lib.Sigmoid()])
        del seq[0]
        seq[0] = lib.Linear(1, 5)
        return seq
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_sequential_from_ordered_dict_names_children():
    seq = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    ref = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(1, 2, 3)),
                                           ("act", torch.nn.ReLU())]))
    assert seq.conv is seq[0]
    assert list(seq.state_dict()) == list(ref.state_dict()) == ["conv.weight", "conv.bias"]
    assert repr(seq) == repr(ref)


def test_module_list():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    blocks.append(nn.ReLU())
    blocks += [nn.Tanh()]
    ref = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)]
                              + [torch.nn.ReLU(), torch.nn.Tanh()])
    assert repr(blocks) == repr(ref)              # (0-2): 3 x Linear(...)
    assert list(blocks.state_dict()) == list(ref.state_dict())
    assert len(blocks) == 5 and blocks[-1] is list(blocks)[4]
    assert isinstance(blocks[1:3], nn.ModuleList) and len(blocks[1:3]) == 2
    blocks.insert(0, nn.Sigmoid())
    del blocks[1]
    assert [type(m).__name__ for m in blocks] == ["Sigmoid", "Linear", "Linear", "ReLU",
                                                  "Tanh"]
    assert [n for n, _ in blocks.named_children()] == ["0", "1", "2", "3", "4"]
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    with pytest.raises(TypeError, match="expected an iterable of Modules"):
        blocks.extend(nn.ReLU())
    with pytest.raises(NotImplementedError, match="iterate over it"):
        blocks(1)


def test_module_dict():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 4)})
    ref = torch.nn.ModuleDict({"cls": torch.nn.Linear(4, 3), "box": torch.nn.Linear(4, 4)})
    assert list(heads) == ["cls", "box"] and "cls" in heads and len(heads) == 2
    assert list(heads.state_dict()) == list(ref.state_dict())
    assert repr(heads) == repr(ref)
    heads["aux"] = nn.ReLU()
    assert list(heads.keys()) == ["cls", "box", "aux"]
    assert heads.pop("aux").__class__ is nn.ReLU and "aux" not in heads
    with pytest.raises(KeyError, match="ModuleDict has no key 'nope'"):
        heads["nope"]


def tiny_cnn(C=2, OC=2, classes=3, H=4):
    """conv -> BN -> ReLU -> max pool -> flatten -> linear."""
    return nn.Sequential(
        nn.Conv2d(C, OC, 3, padding=1), nn.BatchNorm2d(OC), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(OC * (H // 2) ** 2, classes))


@pytest.mark.usefixtures("kernel_backend")
def test_gradcheck_of_a_tiny_cnn_over_its_parameters_and_input():
    """float64 finite differences through every layer, BN in training mode."""
    minicnn.manual_seed(0)
    model = tiny_cnn().double()
    x = Tensor(numpy.random.default_rng(1).standard_normal((2, 2, 4, 4)))
    params = list(model.parameters())
    assert len(params) == 6

    def f(x, *params):   # the parameters are perturbed in place by numerical_grad
        return model(x)
    assert minicnn.gradcheck(f, [x, *params])


def test_small_cnn_overfits_a_fixed_batch_with_plain_gradient_descent():
    minicnn.manual_seed(0)
    rng = numpy.random.default_rng(0)
    model = tiny_cnn(C=3, OC=8, classes=5, H=8)
    x = Tensor(rng.standard_normal((16, 3, 8, 8)).astype(numpy.float32))
    y = rng.integers(0, 5, size=16)
    criterion = nn.CrossEntropyLoss()
    lr, losses = 0.2, []
    for _ in range(60):
        model.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses[::10]
    model.eval()
    accuracy = (model(x).data.argmax(axis=1) == y).mean()
    assert accuracy >= 0.9
