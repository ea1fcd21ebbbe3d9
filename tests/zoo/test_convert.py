"""Weights interchange (zoo/convert.py): torch state dicts and .pth files, clear errors."""
import numpy
import pytest

import minicnn
from minicnn import nn, zoo
from minicnn.serialization import load, save

torch = pytest.importorskip("torch")


def _tiny_pair():
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))
    return ours, theirs


def test_from_torch_copies_every_tensor():
    ours, theirs = _tiny_pair()
    theirs.train()(torch.randn(4, 1, 6, 6))             # non-trivial running statistics
    zoo.from_torch(ours, theirs.state_dict())
    for key, value in theirs.state_dict().items():
        numpy.testing.assert_array_equal(numpy.asarray(ours.state_dict()[key]),
                                         value.numpy(), err_msg=key)


def test_from_torch_reads_a_pth_file(tmp_path):
    ours, theirs = _tiny_pair()
    path = tmp_path / "tiny.pth"
    torch.save(theirs.state_dict(), path)
    zoo.from_torch(ours, str(path))
    numpy.testing.assert_array_equal(ours[3].weight.data, theirs[3].weight.detach().numpy())


def test_errors_list_every_bad_key():
    ours, theirs = _tiny_pair()
    state = dict(theirs.state_dict())
    del state["0.bias"]                                  # missing
    del state["1.running_var"]                           # missing
    state["extra.weight"] = torch.zeros(2)               # unexpected
    state["3.weight"] = torch.zeros(3, 5)                # mis-shaped
    with pytest.raises(ValueError) as info:
        zoo.from_torch(ours, state)
    message = str(info.value)
    for key in ("0.bias", "1.running_var", "extra.weight", "3.weight"):
        assert key in message
    assert "(3, 64)" in message and "(3, 5)" in message


def test_bad_sources():
    ours, _ = _tiny_pair()
    with pytest.raises(FileNotFoundError, match="no such file"):
        zoo.from_torch(ours, "/nonexistent/weights.pth")
    with pytest.raises(TypeError, match="0.weight"):
        zoo.from_torch(ours, {"0.weight": "not a tensor"})
    with pytest.raises(TypeError, match="state dict"):
        zoo.from_torch(ours, 42)


def test_save_load_round_trip_is_exact(tmp_path):
    model = zoo.resnet20()
    model.train()(minicnn.Tensor(
        numpy.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(numpy.float32)))
    path = tmp_path / "resnet20.npz"
    save(model.state_dict(), path)
    loaded = load(path)
    assert list(loaded) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert loaded[key].dtype == value.dtype
        numpy.testing.assert_array_equal(loaded[key], value, err_msg=key)
    fresh = zoo.resnet20()
    fresh.load_state_dict(loaded)
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(fresh.state_dict()[key], value, err_msg=key)
