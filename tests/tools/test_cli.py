"""The minicnn command line end to end on tiny data, in-process through main(argv), and
the one-line errors."""
import gzip
import json
import os
import subprocess
import sys

import numpy
import pytest

from minicnn.data import datasets
from minicnn.data.datasets import idx_bytes
from minicnn.settings import settings
from minicnn.tools import cli
from minicnn.zoo import list_models

COMMANDS = ["train", "eval", "predict", "summary", "gradcheck", "visualize", "info", "demo",
            "graph", "explain", "exercise", "bench"]


@pytest.fixture(autouse=True)
def keep_backend():
    """main() applies --backend to the process; give the next test the backend it had."""
    previous = settings.backend
    yield
    settings.backend = previous


@pytest.fixture
def env(tmp_path, isolated_data, monkeypatch):
    """An isolated data path (no system folders, no network) as working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_fashion(root, n_train=96, n_test=32):
    """A tiny Fashion-MNIST: each class a bright horizontal band at its own height."""
    rng = numpy.random.default_rng(0)
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 40, (n, 28, 28))
        for i, lab in enumerate(labels):
            images[i, 2 * lab + 4:2 * lab + 6] = 255
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


TRAIN = ["train", "lenet5", "--variant", "modern", "--data", "digits", "--limit", "240",
         "--batch-size", "32", "--optimizer", "adam", "--lr", "0.003", "--seed", "1",
         "--no-progress"]


@pytest.fixture(scope="module")
def trained_module(tmp_path_factory):
    """One 2-epoch digits run shared by the tests that read its outputs."""
    base = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets, "SYSTEM_ROOTS", ())
        mp.setenv("MINICNN_DATA", str(base / "data"))
        code = cli.main(TRAIN + ["--epochs", "2", "--out", str(base / "run"), "--augment",
                                 "--schedule", "step:1:0.5"])
    assert code == 0
    return base / "run"


@pytest.fixture
def trained(env, trained_module, capsys):
    out = capsys.readouterr().out
    return trained_module, out


def test_train_writes_metrics_curves_checkpoints(trained):
    run_dir, out = trained
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert [e["epoch"] for e in metrics["history"]] == [1, 2]
    assert [e["lr"] for e in metrics["history"]] == [0.003, 0.0015]
    for e in metrics["history"]:
        assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                "seconds"} <= set(e)
    assert metrics["config"]["classes"] == [str(i) for i in range(10)]
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "checkpoint_last.npz").is_file()
    assert (run_dir / "checkpoint_best.npz").is_file()
    history = json.loads((run_dir / "history.json").read_text())["history"]
    assert history == metrics["history"]


def test_resume_matches_straight_run(env, capsys):
    args = TRAIN + ["--augment", "--optimizer", "sgd", "--schedule", "plateau"]
    assert run(args + ["--epochs", "2", "--out", "straight"], capsys)[0] == 0
    assert run(args + ["--epochs", "1", "--out", "split"], capsys)[0] == 0
    code, out, err = run(args + ["--epochs", "2", "--out", "split", "--resume", "split"],
                         capsys)
    assert code == 0, err
    assert "resuming split after epoch 1" in out
    a = json.loads((env / "straight" / "metrics.json").read_text())
    b = json.loads((env / "split" / "metrics.json").read_text())
    for e in a["history"] + b["history"]:
        e.pop("seconds")
    assert a["history"] == b["history"]
    assert a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == b["test_loss"]
    import minicnn
    wa = minicnn.load(str(env / "straight" / "checkpoint_last.npz"))["model"]
    wb = minicnn.load(str(env / "split" / "checkpoint_last.npz"))["model"]
    for k in wa:
        numpy.testing.assert_array_equal(wa[k], wb[k])


def test_eval_json_matches_training(trained, capsys):
    run_dir, _ = trained
    code, out, err = run(["eval", str(run_dir / "checkpoint_last.npz"), "--limit", "240",
                          "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert result["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    code, out, _ = run(["eval", str(run_dir / "checkpoint_last.npz"), "--data", "digits"],
                       capsys)
    assert code == 0 and "accuracy" in out


def test_predict(trained, capsys):
    from PIL import Image
    run_dir, _ = trained
    digit = datasets.load_digits().test_images[0, 0]
    Image.fromarray(digit).resize((32, 32)).save("digit.png")
    code, out, err = run(["predict", str(run_dir / "checkpoint_best.npz"), "digit.png"],
                         capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "digit.png" and len(lines) == 6 and lines[1].strip().startswith("1.")
    code, out, _ = run(["predict", str(run_dir / "checkpoint_best.npz"), "digit.png",
                        "--json", "--top", "3"], capsys)
    top = json.loads(out)[0]["top"]
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"]
    assert sum(t["probability"] for t in top) <= 1.0 + 1e-6


def test_visualize_checkpoint_and_zoo_model(trained, capsys):
    run_dir, _ = trained
    code, out, err = run(["visualize", str(run_dir / "checkpoint_best.npz"), "--out", "pics"],
                         capsys)
    assert code == 0, err
    names = sorted(os.listdir("pics"))
    assert "filters.png" in names and "input.png" in names
    assert "conv1_features.png" in names and "saliency.png" in names
    with pytest.warns(UserWarning, match="zoo name, so its weights are random"):
        code, out, err = run(["visualize", "lenet5", "--variant", "modern", "--out", "pics2",
                              "--image", "pics/input.png"], capsys)
    assert code == 0, err
    assert "filters.png" in out


def test_summary(capsys):
    code, out, err = run(["summary", "lenet5", "--variant", "modern", "--input-shape",
                          "1,28,28"], capsys)
    assert code == 0, err
    assert "107,786" in out or "107786" in out


@pytest.mark.parametrize("argv,total", [
    (["alexnet", "--variant", "paper"], "60,965,224"),           # the builder's 1000 classes
    (["vgg16", "--input-shape", "3,32,32"], "34,006,948"),       # the Keras CIFAR-100 VGG-16
    (["vgg16", "--input-shape", "3,32,32", "--num-classes", "10"], "33,638,218"),
])
def test_summary_builds_each_model_with_its_own_defaults(argv, total, capsys):
    code, out, err = run(["summary", *argv], capsys)
    assert code == 0, err
    assert f"Total params: {total}" in out


def test_unknown_model_is_reported_before_any_data_is_looked_for(env, capsys):
    code, out, err = run(["train", "nosuchnet", "--data", "mnist"], capsys)
    assert code == 1
    assert "unknown model 'nosuchnet'" in err and "no copy of" not in err


def test_gradcheck_one_op(capsys):
    code, out, err = run(["gradcheck", "conv2d"], capsys)
    assert code == 0, err
    assert out.count("conv2d ") == 3 and "worst relative error" in out


def test_info_prints_what_its_help_promises(capsys):
    code, out, err = run(["info"], capsys)
    assert code == 0, err
    for promised in ("minicnn", "numpy", "BLAS", "backend", "CPU ops run by", "GPU",
                     "data search path"):
        assert f"\n{promised} " in "\n" + out, promised


def test_demo_on_tiny_fashion(env, capsys):
    write_fashion(env / "data")
    code, out, err = run(["demo", "--epochs", "1", "--limit", "96", "--out", "demo"], capsys)
    assert code == 0, err
    assert "fashion-mnist" in out and "Fashion-MNIST demo: test accuracy" in out
    assert "predicted" in out and (env / "demo" / "curves.png").is_file()


def test_demo_falls_back_to_digits(env, capsys):
    code, out, err = run(["demo", "--epochs", "1", "--limit", "64", "--out", "demo"], capsys)
    assert code == 0, err
    assert "falling back to scikit-learn's 8x8 digits" in out
    assert "digits fallback: test accuracy" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    try:
        code, out, _ = run([command, "--help"], capsys)
    except SystemExit as stop:           # bench's own parser exits as argparse does
        code, out = stop.code, capsys.readouterr().out
    assert code == 0 and out.startswith("usage: minicnn " + command)


@pytest.mark.parametrize("command", ["train", "summary", "graph", "visualize"])
def test_model_commands_list_the_models_in_their_help(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())          # argparse wraps the list over lines
    for name in list_models():
        assert name in flat, (command, name)


def test_subprocess_help():
    result = subprocess.run([sys.executable, "-m", "minicnn", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def _broken_checkpoint(env):
    (env / "broken.npz").write_bytes(b"PK\x03\x04 garbage")
    return "broken.npz"


@pytest.mark.parametrize("argv,expected", [
    (["train", "nosuchnet", "--data", "digits"], "unknown model 'nosuchnet'; choose one of: "),
    (["train", "lenet5", "--data", "imagenet"], "unknown dataset 'imagenet'; choose one of: "
                                                "mnist, fashion-mnist, cifar10"),
    (["train", "lenet5", "--data", "fashion-mnist", "--no-download"],
     "apt-get install dataset-fashion-mnist"),
    (["train", "lenet5", "--data", "digits", "--schedule", "wobbly"], "bad --schedule"),
    (["train", "lenet5", "--data", "digits", "--epochs", "0"], "expected a positive int"),
    (["train", "lenet5"], "the following arguments are required: --data"),
    (["train", "lenet5", "--data", "digits", "--optimizer", "lbfgs"], "invalid choice"),
    (["train", "lenet5", "--data", "digits", "--resume", "nowhere"],
     "checkpoint nowhere does not exist"),
    (["eval", "missing.npz"], "checkpoint missing.npz does not exist"),
    (["eval", "BROKEN"], "cannot read checkpoint broken.npz"),
    (["predict", "BROKEN", "x.png"], "cannot read checkpoint broken.npz"),
    (["summary", "lenet5", "--input-shape", "1,28"], "bad --input-shape"),
    (["summary", "vgg99"], "unknown model 'vgg99'"),
    (["gradcheck", "nosuchop"], "unknown op 'nosuchop'; choose one of: all, conv2d"),
    (["visualize", "nosuch.npz", "--out", "v"], "checkpoint nosuch.npz does not exist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_one_line_errors(env, capsys, argv, expected):
    broken = _broken_checkpoint(env)
    argv = [broken if a == "BROKEN" else a for a in argv]
    code, out, err = run(argv, capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert "Traceback" not in err


def test_predict_unreadable_image(trained, capsys):
    run_dir, _ = trained
    open("notes.txt", "w").write("hello")
    code, _, err = run(["predict", str(run_dir / "checkpoint_best.npz"), "notes.txt"], capsys)
    assert code == 1 and err.count("\n") == 1 and "cannot read image notes.txt" in err
    code, _, err = run(["predict", str(run_dir / "checkpoint_best.npz"), "gone.png"], capsys)
    assert code == 1 and "image gone.png does not exist" in err


def test_cuda_unavailable_is_one_line(env, capsys):
    from minicnn.backend import cupy_module
    if cupy_module() is not None:
        pytest.skip("CuPy is installed here; the error path needs a machine without it")
    code, _, err = run(TRAIN + ["--device", "cuda"], capsys)
    assert code == 1 and err.count("\n") == 1 and "backend 'cuda'" in err


def test_train_first_says_which_code_runs_the_hot_loops(env, capsys):
    code, out, err = run(TRAIN + ["--epochs", "1", "--limit", "64", "--out", "first-line",
                                  "--backend", "numpy"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith(
        "backend numpy: numpy reference (minicnn/functional): ")
