"""Tests of minicnn/train/diagnostics.py, and of `minicnn train --diagnostics / --overfit`
end to end on scikit-learn's digits."""
import json

import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn, optim
from minicnn.tools import cli
from minicnn.train.diagnostics import Diagnostics


def tiny_model():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 4 * 4, 3))


def batch(seed=0):
    rng = numpy.random.default_rng(seed)
    return minicnn.Tensor(rng.standard_normal((4, 1, 4, 4)).astype(numpy.float32)), \
        rng.integers(0, 3, 4)


def test_gradient_norms_update_ratios_and_activations_are_the_definitions(tmp_path):
    model = tiny_model()
    lr = 0.05
    opt = optim.SGD(model.parameters(), lr=lr)  # plain SGD: the step is -lr * g
    diag = Diagnostics(model, opt, out_dir=str(tmp_path))
    x, y = batch()
    relu_out = []
    handle = model[1].register_forward_hook(lambda m, a, out: relu_out.append(out.numpy()))
    loss = F.cross_entropy(model(x), y)
    handle.remove()
    opt.zero_grad()
    loss.backward()
    w = model[0].weight.numpy().copy()
    g = model[0].weight.grad.copy()
    opt.step()
    entry = diag.on_epoch_end(1)
    conv = entry["parameters"]["0.weight"]
    assert conv["grad_norm"] == pytest.approx(numpy.linalg.norm(g), rel=1e-6)
    assert conv["update_ratio"] == pytest.approx(lr * numpy.linalg.norm(g)
                                                 / numpy.linalg.norm(w), rel=1e-5)
    act = entry["activations"]["1"]
    assert act["mean"] == pytest.approx(float(relu_out[0].mean()), rel=1e-6)
    assert act["std"] == pytest.approx(float(relu_out[0].std()), rel=1e-6)
    assert act["zero_fraction"] == pytest.approx(float((relu_out[0] == 0).mean()))
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert saved["history"][0]["parameters"]["0.weight"]["grad_norm"] == conv["grad_norm"]
    assert (tmp_path / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"


def test_epoch_values_are_means_over_steps_and_eval_passes_are_ignored():
    model = tiny_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    diag = Diagnostics(model, opt)
    norms = []
    for seed in range(3):
        x, y = batch(seed)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        norms.append(numpy.linalg.norm(model[3].weight.grad))
        opt.step()
    model.eval()
    with minicnn.no_grad():
        model(batch(9)[0] * 100)  # would change the activation means if it counted
    model.train()
    entry = diag.on_epoch_end(1)
    assert entry["parameters"]["3.weight"]["grad_norm"] == pytest.approx(numpy.mean(norms))
    assert diag.on_epoch_end(2)["parameters"] == {}  # a new epoch starts empty


def test_close_removes_the_hooks_and_the_step_wrapper():
    model = tiny_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    diag = Diagnostics(model, opt)
    assert "step" in vars(opt)
    diag.close()
    assert "step" not in vars(opt)
    x, y = batch()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    assert diag.on_epoch_end(1) == {"epoch": 1, "parameters": {}, "activations": {}}


DIGITS = ["train", "lenet5", "--variant", "modern", "--data", "digits", "--batch-size", "16",
          "--optimizer", "adam", "--lr", "0.01", "--seed", "0", "--no-progress"]


@pytest.fixture
def env(tmp_path, isolated_data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_train_diagnostics_on_digits(env, capsys):
    code = cli.main(DIGITS + ["--limit", "120", "--epochs", "2", "--diagnostics",
                              "--out", "run"])
    assert code == 0, capsys.readouterr().err
    history = json.loads((env / "run" / "diagnostics.json").read_text())["history"]
    assert [e["epoch"] for e in history] == [1, 2]
    params = history[-1]["parameters"]
    assert {"conv1.weight", "fc3.weight"} <= set(params)
    assert all(v["grad_norm"] > 0 and v["update_ratio"] > 0 for v in params.values())
    assert 0 <= history[-1]["activations"]["act"]["zero_fraction"] < 1
    assert (env / "run" / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_train_overfit_memorises_a_few_digits(env, capsys):
    code = cli.main(DIGITS + ["--overfit", "16", "--epochs", "20", "--limit", "64",
                              "--out", "run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "16 train, 0 validation" in out
    assert "overfit check: PASSED, 100% train accuracy on 16 images" in out
