"""Tests of minicnn/tools/visualize.py and `minicnn visualize` on a digits checkpoint."""
import numpy
import pytest

import minicnn
from minicnn import nn
from minicnn.tools import cli
from minicnn.tools.visualize import layer_file_name, saliency, visualize


def linear_probe():
    """conv 1x1 (one weight a) then a linear layer: d logit_k / d x = a * W[k]."""
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.Flatten(), nn.Linear(16, 3))


def test_saliency_is_the_input_gradient_of_the_class_score():
    model = linear_probe()
    x = numpy.random.default_rng(0).standard_normal((1, 4, 4)).astype(numpy.float32)
    sal, probs, target = saliency(model, x, target=2)
    a = float(model[0].weight.numpy().ravel()[0])
    want = numpy.abs(a * model[2].weight.numpy()[2]).reshape(4, 4)
    numpy.testing.assert_allclose(sal, want, rtol=1e-5)
    assert target == 2 and probs.shape == (3,) and abs(probs.sum() - 1) < 1e-5
    assert all(p.grad is None for p in model.parameters())  # the model is left clean
    assert saliency(model, x)[2] == int(numpy.argmax(probs))  # default: the predicted class
    with pytest.raises(ValueError, match="class 7 is outside the model's 3 classes"):
        saliency(model, x, target=7)


def test_visualize_names_files_by_layer_and_prints_the_prediction(tmp_path):
    model = linear_probe()
    lines = []
    written = visualize(model, str(tmp_path), image=numpy.ones((1, 4, 4)),
                        classes=["a", "b", "c"], shared_scale=True, print_fn=lines.append)
    names = [p.rsplit("/", 1)[1] for p in written]
    assert names == ["input.png", "filters.png", "0_features.png", "saliency.png"]
    assert lines[0].startswith("predicted ") and " with probability " in lines[0]
    assert layer_file_name("layer1.0.conv1") == "layer1_0_conv1_features.png"
    assert layer_file_name("act#2") == "act_call2_features.png"


@pytest.fixture
def env(tmp_path, isolated_data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_visualize_uses_the_checkpoint_dataset(env, capsys):
    code = cli.main(["train", "lenet5", "--variant", "modern", "--data", "digits", "--limit",
                     "64", "--epochs", "1", "--out", "run", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    code = cli.main(["visualize", "run/checkpoint_last.npz", "--class", "3", "--out", "pics"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "image: digits test image" in out and "(class 3: 3)" in out
    assert "predicted " in out and "probability" in out
    for name in ("conv1_features.png", "saliency.png", "filters.png"):
        assert (env / "pics" / name).read_bytes()[:4] == b"\x89PNG"
    code = cli.main(["visualize", "run/checkpoint_last.npz", "--class", "12", "--out", "p"])
    assert code == 1 and "--class 12 is not a class of digits" in capsys.readouterr().err


def test_cli_visualize_warns_that_a_zoo_model_is_random(env, capsys):
    with pytest.warns(UserWarning, match="weights are random"):
        code = cli.main(["visualize", "lenet5", "--variant", "modern", "--out", "z"])
    assert code == 0, capsys.readouterr().err
    assert (env / "z" / "saliency.png").exists()
