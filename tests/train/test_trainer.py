"""Trainer: history, metrics.json, curves, checkpoints, bit-identical resume, NaN stop,
early stopping, schedulers, top-k accuracy."""
import json
import math
import os

import numpy
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.data import ArrayDataset, DataLoader, Normalize, RandomShift
from minicnn.data.transforms import Compose
from minicnn.train import NonFiniteLossError, Trainer, evaluate, load_checkpoint, topk_correct
from minicnn.train.trainer import CheckpointError


def tiny_data(n=48, seed=0):
    rng = numpy.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 60, (n, 1, 8, 8)).astype(numpy.uint8)
    for i, lab in enumerate(labels):  # a learnable signal: a bright row per class
        images[i, 0, 2 + 2 * lab] = 250
    return images, labels


def build(seed=0, scheduler="step", out=None, early_stopping=None, lr=0.05):
    minicnn.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * 4 * 4, 3))
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = {"step": lambda: optim.lr_scheduler.StepLR(opt, 1, 0.5),
             "plateau": lambda: optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0),
             None: lambda: None}[scheduler]()
    images, labels = tiny_data()
    norm = Normalize([0.2], [0.3])
    train = DataLoader(ArrayDataset(images[:32], labels[:32]), 8, shuffle=True, seed=seed,
                       transform=Compose([RandomShift(1), norm]))
    val = DataLoader(ArrayDataset(images[32:], labels[32:]), 16, transform=norm)
    trainer = Trainer(model, opt, scheduler=sched, out_dir=out, progress=False, log=None,
                      early_stopping=early_stopping, config={"title": "tiny"})
    return trainer, train, val


def strip_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


@pytest.mark.parametrize("scheduler", ["step", "plateau"])
def test_resume_is_bit_identical(tmp_path, scheduler):
    straight, train, val = build(scheduler=scheduler, out=str(tmp_path / "a"))
    straight.fit(train, val, epochs=3)

    first, train, val = build(scheduler=scheduler, out=str(tmp_path / "b"))
    first.fit(train, val, epochs=1)
    # a new process: different seed, fresh objects, then resume
    resumed, train, val = build(seed=5, scheduler=scheduler, out=str(tmp_path / "b"))
    resumed.resume(str(tmp_path / "b"), train)
    assert resumed.epoch == 1 and train.seed == 0
    resumed.fit(train, val, epochs=3)

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        numpy.testing.assert_array_equal(a[k], b[k])
    sa, sb = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    for i in sa["state"]:
        numpy.testing.assert_array_equal(sa["state"][i]["momentum_buffer"],
                                         sb["state"][i]["momentum_buffer"])
    assert strip_seconds(straight.history) == strip_seconds(resumed.history)
    assert len(straight.history) == 3
    assert minicnn.rng.get_rng_state() == resumed.state_dict()["rng"]
    assert straight.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]


def test_files_and_schema(tmp_path):
    trainer, train, val = build(out=str(tmp_path))
    history = trainer.fit(train, val, epochs=2)
    metrics = trainer.test(val)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    for key in ("test_accuracy", "test_loss", "test_top5_accuracy", "history"):
        assert key in on_disk
    for e in on_disk["history"]:
        for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                    "lr", "seconds"):
            assert isinstance(e[key], (int, float)), key
    assert [e["lr"] for e in history] == [0.05, 0.025]  # StepLR(1, 0.5), lr used per epoch
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_best.npz", "checkpoint_last.npz",
                                            "curves.png", "history.json", "metrics.json"]
    ckpt = load_checkpoint(str(tmp_path / "checkpoint_best.npz"))
    assert ckpt["epoch"] == trainer.best_epoch and ckpt["config"]["title"] == "tiny"
    # the test metrics are the evaluation of the final model
    again = evaluate(trainer.model, val)
    assert again["accuracy"] == metrics["test_accuracy"]


def test_learns(tmp_path):
    trainer, train, val = build(scheduler=None, lr=0.1)
    trainer.fit(train, val, epochs=6)
    assert trainer.history[-1]["train_loss"] < trainer.history[0]["train_loss"]
    assert max(e["val_accuracy"] for e in trainer.history) > 0.5


def test_nan_stops_and_keeps_last_checkpoint(tmp_path):
    trainer, train, val = build(out=str(tmp_path))
    trainer.fit(train, val, epochs=1)
    last = tmp_path / "checkpoint_last.npz"
    before = last.read_bytes()
    weights = {k: v.copy() for k, v in trainer.model.state_dict().items()}
    calls = {"n": 0}
    loss_fn = trainer.loss_fn

    def poisoned(logits, y):
        calls["n"] += 1
        loss = loss_fn(logits, y)
        return loss * float("nan") if calls["n"] == 3 else loss
    trainer.loss_fn = poisoned
    with pytest.raises(NonFiniteLossError, match=r"nan at epoch 2, step 3.*"
                       r"checkpoint_last.npz \(epoch 1\) is intact"):
        trainer.fit(train, val, epochs=3)
    assert last.read_bytes() == before
    assert trainer.epoch == 1
    # the bad step never reached the weights
    after = trainer.model.state_dict()
    changed = [k for k in weights if not numpy.array_equal(weights[k], after[k])]
    assert changed  # the two good steps of epoch 2 did update them
    assert all(numpy.isfinite(v).all() for v in after.values())


def test_inf_without_checkpoint(tmp_path):
    trainer, train, val = build(out=None)
    trainer.loss_fn = lambda logits, y: (logits.sum() * 0 + float("inf"))
    with pytest.raises(NonFiniteLossError, match="inf at epoch 1, step 1; no checkpoint"):
        trainer.fit(train, val, epochs=1)


def test_early_stopping():
    trainer, train, val = build(scheduler=None, early_stopping=2, lr=0.0)
    trainer.fit(train, val, epochs=10)
    assert trainer.stopped_early and trainer.epoch == 3


def test_topk_correct():
    logits = numpy.array([[0.1, 0.5, 0.2, 0.0, 0.9, 0.3],
                          [3.0, 2.0, 1.0, 0.0, -1.0, -2.0]])
    labels = numpy.array([1, 5])
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == {1: 0, 2: 1, 5: 1}
    assert topk_correct(logits[:, :3], numpy.array([1, 2]), ks=(1, 5)) == {1: 1, 5: 2}


def test_evaluate_restores_mode():
    trainer, _, val = build()
    trainer.model.train()
    out = evaluate(trainer.model, val)
    assert trainer.model.training and out["count"] == 16
    assert 0 <= out["accuracy"] <= out["top5_accuracy"] == 1.0  # 3 classes: top-5 is all


def test_bad_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*bad.npz"):
        load_checkpoint(str(bad))
    minicnn.save({"weights": numpy.zeros(3)}, str(tmp_path / "w.npz"))
    with pytest.raises(CheckpointError, match="not a minicnn training checkpoint"):
        load_checkpoint(str(tmp_path / "w.npz"))


def test_bad_arguments():
    trainer, train, val = build()
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        trainer.fit(train, val, epochs=0)
    with pytest.raises(ValueError, match="early_stopping must be a positive int"):
        Trainer(trainer.model, trainer.optimizer, early_stopping=0)
    assert math.isinf(trainer.best_val_loss)


def test_progress_bars_only_when_asked_or_on_a_terminal(capsys):
    trainer, train, val = build(scheduler=None)
    trainer.progress = None          # auto: stderr is not a terminal under pytest
    trainer.log = print
    trainer.fit(train, val, epochs=1)
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("epoch 1/1  train loss")
    trainer.progress = True
    trainer.fit(train, val, epochs=2)
    _, err = capsys.readouterr()
    assert "epoch 2" in err and "loss=" in err and "acc=" in err and "img_s=" in err


def test_written_files_have_plain_permissions(tmp_path):
    from minicnn.runtime.fileio import new_file_mode
    trainer, train, val = build(out=str(tmp_path))
    trainer.fit(train, val, epochs=1)
    plain = new_file_mode(str(tmp_path / "a-file-that-does-not-exist"))
    for name in ("history.json", "curves.png"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == plain
