"""minicnn.train.recipe: TrainConfig/fit on digits, resume rules, the cosine horizon,
NaN validation, strict JSON, stale temporaries, the output directory check, and
kill -9 at each checkpoint rename followed by an exact resume."""
import json
import os
import subprocess
import sys
import textwrap

import numpy
import pytest

import minicnn
from minicnn.train import ConfigError, NonFiniteLossError, TrainConfig, fit, load_checkpoint
from minicnn.train.recipe import make_scheduler

QUICK = dict(model="lenet5", variant="modern", data="digits", limit=160, batch_size=32,
             optimizer="adam", lr=0.003, seed=1, progress=False)


def run(tmp_path, name, **changes):
    config = TrainConfig(**{**QUICK, "epochs": 2, "out": str(tmp_path / name), **changes})
    return fit(config, log=None)


def weights(path):
    return minicnn.load(str(path))["model"]


def strip_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


def test_fit_trains_and_writes_strict_json(tmp_path):
    result = run(tmp_path, "a")
    assert [e["epoch"] for e in result.metrics["history"]] == [1, 2]
    assert 0 <= result.metrics["test_accuracy"] <= 1
    for name in ("metrics.json", "history.json"):
        json.loads((tmp_path / "a" / name).read_text(),
                   parse_constant=lambda c: pytest.fail(f"{name} holds a bare {c}"))
    assert result.trainer.config["dataset"] == "digits"
    assert result.out == str(tmp_path / "a")


@pytest.mark.parametrize("field,value,expected", [
    ("epochs", 0, "TrainConfig.epochs: expected a positive int, got 0"),
    ("lr", float("nan"), "TrainConfig.lr: expected a finite number"),
    ("val_split", 1.0, "TrainConfig.val_split: expected a fraction"),
    ("schedule", "plateau:-1", "PATIENCE must be >= 0"),
    ("schedule", "exp:nan", "GAMMA must be a finite number > 0"),
    ("schedule", "step:0:0.5", "EPOCHS must be >= 1"),
    ("data", "imagenet", "unknown dataset 'imagenet'"),
    ("model", "nosuchnet", "unknown model 'nosuchnet'"),
])
def test_bad_config_fails_before_any_data(tmp_path, field, value, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        run(tmp_path, "bad", **{field: value})
    assert not (tmp_path / "bad").exists()


def test_unwritable_out_is_found_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="output directory .*file/run is not writable"):
        run(tmp_path, "file/run")


@pytest.mark.parametrize("change,setting", [
    (dict(seed=2), "seed"), (dict(data="mnist"), None), (dict(lr=0.01), "lr"),
    (dict(val_split=0.2), "val_split"), (dict(variant="paper"), "variant"),
    (dict(batch_size=16), "global_batch_size"),
])
def test_resume_refuses_changed_settings(tmp_path, change, setting):
    run(tmp_path, "r", epochs=1)
    if setting is None:
        pytest.skip("mnist is not installed here")  # the data check comes first
    with pytest.raises(ConfigError, match=f"cannot resume .*: {setting} .* but the run was "
                       "started with"):
        run(tmp_path, "r", epochs=2, resume=str(tmp_path / "r"), **change)


def test_resume_accepts_epochs_and_progress_and_matches_a_straight_run(tmp_path):
    straight = run(tmp_path, "straight", epochs=2)
    run(tmp_path, "split", epochs=1)
    resumed = run(tmp_path, "split", epochs=2, resume=str(tmp_path / "split"),
                  progress=None, early_stopping=5)
    assert strip_seconds(straight.metrics["history"]) == \
        strip_seconds(resumed.metrics["history"])
    a, b = weights(tmp_path / "straight" / "checkpoint_last.npz"), \
        weights(tmp_path / "split" / "checkpoint_last.npz")
    for k in a:
        numpy.testing.assert_array_equal(a[k], b[k])


def test_cosine_horizon_change_continues_on_the_new_horizon(tmp_path):
    run(tmp_path, "cos", epochs=2, schedule="cosine")
    result = run(tmp_path, "cos", epochs=4, schedule="cosine", resume=str(tmp_path / "cos"))
    assert result.notes and "horizon changed from 2 to 4 epochs" in result.notes[0]
    lrs = [e["lr"] for e in result.metrics["history"]]
    # epochs 1-2 on the 2-epoch cosine, epochs 3-4 on the 4-epoch one: never 0
    assert lrs[:2] == pytest.approx([0.003, 0.0015])
    assert lrs[2:] == pytest.approx([0.003 * (1 + numpy.cos(numpy.pi * t / 4)) / 2
                                     for t in (2, 3)])
    assert min(lrs) > 0


def test_schedule_specs_build_their_schedulers():
    opt = minicnn.optim.SGD([minicnn.Tensor(numpy.zeros(1), requires_grad=True)], lr=0.1)
    assert type(make_scheduler("multistep:2,4:0.1", opt, 5)).__name__ == "MultiStepLR"
    assert make_scheduler(None, opt, 5) is None


def test_nan_validation_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run(tmp_path, "nan", epochs=1)
    last = tmp_path / "nan" / "checkpoint_last.npz"
    before = last.read_bytes()
    from minicnn.train import trainer as trainer_module
    real = trainer_module.evaluate

    def poisoned(model, loader, *args, **kwargs):
        result = real(model, loader, *args, **kwargs)
        return {**result, "loss": float("nan")}
    monkeypatch.setattr(trainer_module, "evaluate", poisoned)
    with pytest.raises(NonFiniteLossError, match="the validation loss became nan at epoch 2"
                       r".*checkpoint_last.npz \(epoch 1\) is intact"):
        run(tmp_path, "nan", epochs=2, resume=str(tmp_path / "nan"))
    assert last.read_bytes() == before
    history = json.loads((tmp_path / "nan" / "history.json").read_text())["history"]
    assert [e["epoch"] for e in history] == [1]


def test_stale_temporaries_of_our_names_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "tmp"
    out.mkdir()
    stale = [out / ".checkpoint_last.npz.abcd1234.tmp", out / ".curves.png.x_y_z123.tmp"]
    keep = [out / ".checkpoint_last.npz.tmp", out / "notes.tmp", out / ".other.npz.abcd1234.tmp"]
    for p in stale + keep:
        p.write_text("x")
    run(tmp_path, "tmp", epochs=1)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)


def test_checkpoint_model_config_is_bounded(tmp_path, capsys):
    from minicnn.tools import cli
    result = run(tmp_path, "cfg", epochs=1)
    ckpt = load_checkpoint(str(tmp_path / "cfg"))
    ckpt["config"]["num_classes"] = 10**9
    minicnn.save(ckpt, str(tmp_path / "huge.npz"))
    assert cli.main(["eval", str(tmp_path / "huge.npz")]) == 1
    err = capsys.readouterr().err
    assert "config field 'num_classes' must be an int in [1, 100000], got 1000000000" in err
    ckpt["config"]["num_classes"] = 10
    ckpt["model"].pop("conv1.weight")
    ckpt["model"]["extra.weight"] = numpy.zeros(1)
    minicnn.save(ckpt, str(tmp_path / "misfit.npz"))
    assert cli.main(["eval", str(tmp_path / "misfit.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing keys 'conv1.weight'" in err
    assert "unexpected keys 'extra.weight'" in err
    ckpt["epoch"] = [3]
    minicnn.save(ckpt, str(tmp_path / "field.npz"))
    with pytest.raises(Exception, match="field 'epoch' must be a non-negative int"):
        result.trainer.resume(str(tmp_path / "field.npz"))


# ------------------------------------------------------------- kill -9 faults
KILLER = """
    import os, signal, sys
    from minicnn.runtime import fileio
    from minicnn.train import TrainConfig, fit
    stage, name, nth, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    real_replace, seen = os.replace, {"n": 0}

    def replace(src, dst):
        hit = os.path.basename(dst) == name
        if hit:
            seen["n"] += 1
        if hit and seen["n"] == nth and stage == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        if hit and seen["n"] == nth and stage == "after":
            os.kill(os.getpid(), signal.SIGKILL)
    fileio.os.replace = replace
    fit(TrainConfig(**{QUICK}, epochs=3, out=out), log=None)
"""


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("straight")
    return fit(TrainConfig(**QUICK, epochs=3, out=str(base)), log=None)


@pytest.mark.parametrize("stage,name", [
    ("after", "checkpoint_best.npz"),    # best written, last not yet: best is one ahead
    pytest.param("before", "checkpoint_best.npz", marks=pytest.mark.slow),
    pytest.param("after", "checkpoint_last.npz", marks=pytest.mark.slow),
    pytest.param("before", "checkpoint_last.npz", marks=pytest.mark.slow),
])
def test_kill_at_a_rename_then_resume_is_consistent_and_exact(tmp_path, straight_run, stage,
                                                              name):
    out = tmp_path / "run"
    code = textwrap.dedent(KILLER).replace("{QUICK}", repr(QUICK))
    proc = subprocess.run([sys.executable, "-c", code, stage, name, "2", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    last = load_checkpoint(str(out / "checkpoint_last.npz"))
    best = load_checkpoint(str(out / "checkpoint_best.npz"))
    # consistent by construction: best holds last's best epoch, or the epoch whose
    # checkpoint_last the kill interrupted
    assert best["epoch"] in (last["best_epoch"], last["epoch"] + 1)
    resumed = fit(TrainConfig(**QUICK, epochs=3, out=str(out), resume=str(out)), log=None)
    last = load_checkpoint(str(out / "checkpoint_last.npz"))
    best = load_checkpoint(str(out / "checkpoint_best.npz"))
    assert best["epoch"] == last["best_epoch"] == straight_run.trainer.best_epoch
    assert strip_seconds(resumed.metrics["history"]) == \
        strip_seconds(straight_run.metrics["history"])
    a, b = straight_run.trainer.model.state_dict(), last["model"]
    for k in a:
        numpy.testing.assert_array_equal(a[k], b[k])
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
