"""Module and Parameter: registration, walking, state dicts, train/eval, dtype/device."""
import copy
import sys
import types

import numpy
import pytest
import torch

import minicnn
from minicnn import Tensor, nn
from minicnn.backend import BackendUnavailableError, check_backend


def make_net(lib):
    """The same module tree in minicnn.nn or torch.nn: nesting, Sequential,
    ModuleList, ModuleDict, BatchNorm buffers, a persistent and a
    non-persistent buffer of the module itself."""
    def array(values):
        a = numpy.asarray(values, dtype=numpy.float32)
        return torch.from_numpy(a) if lib is torch.nn else a

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = lib.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn1 = lib.BatchNorm2d(4)
            self.relu = lib.ReLU()
            self.downsample = lib.Sequential(lib.Conv2d(3, 4, 1, stride=1), lib.BatchNorm2d(4))

        def forward(self, x):
            return self.relu(self.bn1(self.conv1(x)) + self.downsample(x))

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(Block(), lib.MaxPool2d(2), lib.Dropout(0.0))
            self.register_buffer("scale", array([2.0, 0.5]))
            self.register_buffer("scratch", array([0.0]), persistent=False)
            self.flatten = lib.Flatten()
            self.heads = lib.ModuleList([lib.Linear(16, 3), lib.Linear(16, 2)])
            self.extra = lib.ModuleDict({"bn": lib.BatchNorm1d(3)})

        def forward(self, x):
            h = self.flatten(self.features(x))
            return self.extra["bn"](self.heads[0](h)) * self.scale[0], self.heads[1](h)

    return Net()


def _torch_state_as_numpy(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def test_state_dict_keys_order_and_shapes_match_torch():
    ours, theirs = make_net(nn), make_net(torch.nn)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    assert "features.0.bn1.num_batches_tracked" in ours_sd and "scratch" not in ours_sd
    for key, value in ours_sd.items():
        assert isinstance(value, numpy.ndarray), key
        assert value.shape == tuple(theirs_sd[key].shape), key
        assert value.dtype == theirs_sd[key].numpy().dtype, key
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert repr(ours) == repr(theirs)


def test_small_sequential_state_dict_matches_torch():
    def build(lib):
        return lib.Sequential(lib.Conv2d(1, 2, 3), lib.BatchNorm2d(2), lib.ReLU(),
                              lib.Flatten(), lib.Linear(8, 3))
    ours, theirs = build(nn), build(torch.nn)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                       "1.running_mean", "1.running_var",
                                       "1.num_batches_tracked", "4.weight", "4.bias"]
    assert repr(ours) == repr(theirs)


@pytest.mark.usefixtures("kernel_backend")
@pytest.mark.parametrize("train", [True, False])
def test_torch_state_dict_loads_and_gives_torchs_outputs_and_gradients(train):
    torch.manual_seed(0)
    ours, theirs = make_net(nn), make_net(torch.nn).double()
    with torch.no_grad():   # non-default BN statistics, so eval mode is a real test
        for m in theirs.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 2)
    ours.double()
    result = ours.load_state_dict(theirs.state_dict())     # torch tensors, directly
    assert result == ([], []) and result.missing_keys == []
    ours.train(train)
    theirs.train(train)
    x = numpy.random.default_rng(0).standard_normal((3, 3, 4, 4))
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    loss_ours = (out_ours[0] * out_ours[0]).sum() + out_ours[1].sum()
    loss_theirs = (out_theirs[0] ** 2).sum() + out_theirs[1].sum()
    loss_ours.backward()
    loss_theirs.backward()
    numpy.testing.assert_allclose(loss_ours.item(), loss_theirs.item(), rtol=1e-9)
    numpy.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    # A bias followed by training-mode BN has a gradient of exactly 0 in exact
    # arithmetic; in float64 both frameworks return round-off (~1e-11), so the
    # absolute tolerance is scaled by the largest gradient of the network.
    scale = max(float(abs(q.grad).max()) for q in theirs.parameters())
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        numpy.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-12 * scale,
                                      err_msg=name)
    for key, value in _torch_state_as_numpy(theirs).items():
        numpy.testing.assert_allclose(ours.state_dict()[key], value, rtol=1e-9, err_msg=key)


def test_load_state_dict_copies_into_existing_parameters_keeping_dtype():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight, data = model[0].weight, model[0].weight.data
    source = {
        "0.weight": numpy.arange(6, dtype=numpy.float64).reshape(3, 2),   # float64 in
        "0.bias": Tensor(numpy.ones(3, dtype=numpy.float32)),              # a Tensor
        "1.weight": torch.full((3,), 2.0),                                  # torch
        "1.bias": numpy.zeros(3, dtype=numpy.float32),
        "1.running_mean": numpy.full(3, 0.5, dtype=numpy.float32),
        "1.running_var": numpy.full(3, 4.0, dtype=numpy.float32),
        "1.num_batches_tracked": torch.tensor(7),
    }
    model.load_state_dict(source)
    assert model[0].weight is weight and weight.data is data       # same objects
    assert weight.dtype == numpy.float32
    numpy.testing.assert_array_equal(weight.data, numpy.arange(6).reshape(3, 2))
    assert int(model[1].num_batches_tracked) == 7
    assert model[1].num_batches_tracked.dtype == numpy.int64
    source["0.bias"].data[...] = 9       # a copy was taken, not a reference
    assert (model[0].bias.data == 1).all()


def test_load_state_dict_reports_every_bad_key_at_once():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(4, 2))
    before = copy.deepcopy(model.state_dict())
    sd = {k: v.copy() for k, v in model.state_dict().items()}
    del sd["1.running_var"]
    del sd["2.bias"]
    sd["3.weight"] = numpy.zeros(2)
    sd["0.weight"] = numpy.zeros((2, 1, 5, 5), dtype=numpy.float32)
    sd["2.weight"] = numpy.zeros((4, 2), dtype=numpy.float32)
    sd["1.weight"] = numpy.full(2, 3.0, dtype=numpy.float32)
    with pytest.raises(nn.StateDictError) as e:
        model.load_state_dict(sd)
    err = e.value
    assert isinstance(err, ValueError)
    assert err.missing_keys == ["1.running_var", "2.bias"]
    assert err.unexpected_keys == ["3.weight"]
    assert err.mismatched == [("0.weight", (2, 1, 3, 3), (2, 1, 5, 5)),
                              ("2.weight", (2, 4), (4, 2))]
    message = str(err)
    for key in ("1.running_var", "2.bias", "3.weight", "0.weight", "2.weight"):
        assert key in message
    assert "(2, 1, 3, 3)" in message and "(2, 1, 5, 5)" in message
    # nothing was copied: the valid "1.weight" did not go in either
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_non_strict():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    sd = {"0.weight": numpy.ones((2, 2)), "9.weight": numpy.ones(1)}
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.bias", "1.weight", "1.bias"]
    assert result.unexpected_keys == ["9.weight"]
    assert (model[0].weight.data == 1).all()
    with pytest.raises(nn.StateDictError, match="size mismatch for '0.weight'"):
        model.load_state_dict({"0.weight": numpy.ones((3, 2))}, strict=False)
    with pytest.raises(TypeError, match="load_state_dict: the value of '0.bias' is a str"):
        model.load_state_dict({**model.state_dict(), "0.bias": "zeros"})
    with pytest.raises(TypeError, match="expected a dict of arrays"):
        model.load_state_dict([1, 2])


def test_state_dict_shares_arrays_and_keep_vars():
    fc = nn.Linear(2, 2)
    assert fc.state_dict()["weight"] is fc.weight.data
    assert fc.state_dict(keep_vars=True)["weight"] is fc.weight


def test_registration_by_assignment_and_explicitly():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(numpy.ones(2, dtype=numpy.float32))
            self.child = nn.Linear(2, 2)
            self.register_buffer("stat", numpy.zeros(2))
            self.register_parameter("maybe", None)
            self.plain = 3

    m = M()
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert list(m.state_dict()) == ["w", "stat", "child.weight", "child.bias"]
    assert m.maybe is None and m.plain == 3
    m.stat = Tensor(numpy.ones(2))          # assigning to a buffer stores its array
    assert isinstance(m.stat, numpy.ndarray) and m.stat.sum() == 2
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'w'"):
        m.w = Tensor(numpy.ones(2))
    with pytest.raises(TypeError, match="cannot assign int as child module 'child'"):
        m.child = 3
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["child.weight", "child.bias"]
    m.w = nn.Parameter(numpy.zeros(1))
    del m.child
    assert [n for n, _ in m.named_parameters()] == ["w"]
    with pytest.raises(AttributeError, match="'M' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", numpy.zeros(1))
    with pytest.raises(KeyError, match="contain no '.'"):
        m.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="list is not a Module subclass"):
        m.add_module("x", [])

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(numpy.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_shared_modules_and_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3
    assert model.num_parameters() == 6
    shared.bias.requires_grad = False
    assert model.num_parameters(trainable_only=True) == 4


def test_train_eval_switch_reaches_every_module_and_changes_dropout_and_bn():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5),
                          nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = Tensor(numpy.random.default_rng(0).standard_normal((8, 4)).astype(numpy.float32))
    numpy.testing.assert_array_equal(model(x).data, model(x).data)   # deterministic
    assert int(model[1].num_batches_tracked) == 0
    model.train()
    assert all(m.training for m in model.modules())
    minicnn.manual_seed(0)
    y = model(x).data
    assert (y == 0).any()                             # dropout active
    assert int(model[1].num_batches_tracked) == 1     # BN statistics updated
    with pytest.raises(ValueError, match="mode must be a bool"):
        model.train("eval")


def test_to_dtype_converts_parameters_grads_and_float_buffers_in_place():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    params = list(model.parameters())
    model[0].weight.grad = numpy.ones(model[0].weight.shape, dtype=numpy.float32)
    assert model.double() is model
    assert list(model.parameters()) == params           # the same Parameter objects
    for p in model.parameters():
        assert p.dtype == numpy.float64
    assert model[0].weight.grad.dtype == numpy.float64
    assert model[1].running_var.dtype == numpy.float64
    assert model[1].num_batches_tracked.dtype == numpy.int64
    y = model(Tensor(numpy.zeros((2, 1, 4, 4))))
    assert y.dtype == numpy.float64
    model.to(numpy.float32)
    assert all(v.dtype in (numpy.float32, numpy.int64) for v in model.state_dict().values())
    model.to("float64")
    assert model[0].bias.dtype == numpy.float64
    model.float()
    assert model[0].bias.dtype == numpy.float32
    with pytest.raises(TypeError, match="only floating-point dtypes"):
        model.to(numpy.int32)
    with pytest.raises(TypeError, match="neither a device"):
        model.to("gpu0")


def test_to_device():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    weight = model[0].weight
    assert model.to("cpu") is model and model.cpu() is model
    assert model[0].weight is weight and model[0].weight.device == "cpu"
    try:
        check_backend("cuda")
    except BackendUnavailableError:
        data = weight.data
        with pytest.raises(BackendUnavailableError):
            model.to("cuda")
        with pytest.raises(BackendUnavailableError):
            model.cuda()
        assert weight.data is data
    else:   # a GPU machine: move there and back, keeping the Parameter objects
        model.to("cuda")
        assert model[0].weight is weight and weight.device == "cuda"
        assert type(model[1].running_mean).__module__.startswith("cupy")
        model.to("cpu", numpy.float64)
        assert weight.device == "cpu" and weight.dtype == numpy.float64


def test_zero_grad_requires_grad_and_apply():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    loss = model(Tensor(numpy.ones((1, 2), dtype=numpy.float32))).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "Linear", "Sequential"]     # children first, as PyTorch

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    model.apply(init_weights)
    assert not model[0].weight.data.any()


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(numpy.ones(3, dtype=numpy.float64))
    assert isinstance(p, Tensor) and p.requires_grad and p.dtype == numpy.float64
    assert repr(p).startswith("Parameter containing:\nTensor(")
    assert not nn.Parameter(numpy.ones(1), requires_grad=False).requires_grad
    t = Tensor(numpy.zeros(2, dtype=numpy.float32))
    assert nn.Parameter(t).data is t.data
    y = p * 2
    assert type(y) is Tensor and y.requires_grad


def test_module_without_forward_and_deepcopy_and_get_submodule():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(1)
    model = make_net(nn)
    clone = copy.deepcopy(model)
    assert list(clone.state_dict()) == list(model.state_dict())
    assert clone.heads[0].weight is not model.heads[0].weight
    numpy.testing.assert_array_equal(clone.heads[0].weight.data, model.heads[0].weight.data)
    assert model.get_submodule("features.0.bn1") is model.features[0].bn1
    assert model.get_submodule("") is model
    with pytest.raises(AttributeError, match="has no submodule 'bn9'"):
        model.get_submodule("features.0.bn9")
    assert "features" in dir(model)


def test_summary_delegates_to_minicnn_summary(monkeypatch):
    calls = []
    fake = types.ModuleType("minicnn.tools.summary")
    fake.summary = lambda model, input_shape, **kw: calls.append((model, input_shape, kw))
    monkeypatch.setitem(sys.modules, "minicnn.tools.summary", fake)
    model = nn.Linear(2, 2)
    model.summary((1, 2), depth=3)
    assert calls == [(model, (1, 2), {"depth": 3})]


def test_nested_repr_matches_torch():
    def build(lib):
        return lib.Sequential(
            lib.Sequential(lib.Conv2d(3, 8, 3, stride=2, padding=1), lib.ReLU(inplace=True)),
            lib.ModuleList([lib.Linear(4, 4), lib.Linear(4, 4), lib.Tanh()]),
            lib.ModuleDict({"pool": lib.AdaptiveAvgPool2d((1, 1)), "drop": lib.Dropout(0.2)}),
            lib.BatchNorm1d(4, momentum=None, affine=False))
    assert repr(build(nn)) == repr(build(torch.nn))


def test_forward_hooks_see_every_layers_output_and_can_be_removed():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    shapes, handles = [], []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: shapes.append((name, out.shape))))
    pre = model.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    x = Tensor(numpy.ones((1, 1, 4, 4), dtype=numpy.float32))
    y = model(x)
    assert shapes == [("0", (1, 2, 2, 2)), ("1", (1, 2, 2, 2)), ("2", (1, 8)), ("3", (1, 3))]
    pre.remove()
    for h in handles:
        h.remove()
    shapes.clear()
    numpy.testing.assert_array_equal(model(x * 2).data, y.data)   # the pre-hook doubled x
    assert shapes == []
    with model.register_forward_hook(lambda m, args, out: out * 0):
        assert not model(x).data.any()
    assert model(x).data.any()
