"""minicnn/distributed/training.py and ``minicnn train --distributed``: the warm-up
multiplier, metric reduction, and real CLI jobs whose checkpoints move between 2
ranks and 1 (both ways) and still follow the single-process run."""
import sys

import numpy
import pytest

from minicnn.distributed import warmup_multiplier
from minicnn.serialization import load
from minicnn.tools.cli import main


def test_warmup_ramps_linearly_from_1_to_world_size():
    assert warmup_multiplier(0.0, 4, None) == 1.0
    assert warmup_multiplier(0.0, 4, 0) == 4.0
    assert warmup_multiplier(1.0, 4, 2) == pytest.approx(2.5)   # halfway: 1 + 3 * 0.5
    assert warmup_multiplier(9.0, 4, 2) == 4.0
    assert warmup_multiplier(0.5, 1, 2) == 1.0
    with pytest.raises(ValueError, match="lr warm-up must be >= 0 epochs, got -1"):
        warmup_multiplier(0.0, 2, -1)


def test_lr_warmup_without_distributed_is_a_one_line_error(capsys):
    status = main(["train", "lenet5", "--data", "digits", "--lr-warmup", "2"])
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert err == ("minicnn train: error: --lr-warmup scales the rate by the number of "
                   "ranks; it needs --distributed (under mpiexec -n N)")


TRAIN = ["-m", "minicnn", "train", "lenet5", "--data", "digits", "--limit", "300",
         "--backend", "numpy", "--no-progress", "--val-split", "0.2", "--seed", "1"]


def _weights(run_dir):
    return load(str(run_dir / "checkpoint_last.npz"))["model"]


@pytest.mark.slow
def test_checkpoints_move_between_2_ranks_and_1(run_mpi, tmp_path):
    """Epoch 1 on 2 ranks x 16 then epoch 2 on 1 process x 32 (and the reverse) end
    where 2 epochs on 1 process x 32 end: the same global batches, the same updates."""
    py = sys.executable
    straight, two_one, one_two = tmp_path / "straight", tmp_path / "21", tmp_path / "12"
    run_mpi(1, [py, *TRAIN, "--epochs", "2", "--batch-size", "32", "--out", str(straight)])
    two = run_mpi(2, [py, *TRAIN, "--distributed", "--epochs", "1", "--batch-size", "16",
                      "--out", str(two_one)])
    assert two.stdout.count("training lenet5") == 1          # rank 0 alone prints
    assert "2 ranks x batch 16" in two.stdout
    resumed = run_mpi(1, [py, *TRAIN, "--epochs", "2", "--batch-size", "32",
                          "--resume", str(two_one), "--out", str(two_one)])
    assert "resuming" in resumed.stdout and "epoch 2/2" in resumed.stdout
    run_mpi(1, [py, *TRAIN, "--epochs", "1", "--batch-size", "32", "--out", str(one_two)])
    run_mpi(2, [py, *TRAIN, "--distributed", "--epochs", "2", "--batch-size", "16",
                "--resume", str(one_two), "--out", str(one_two)])
    reference = _weights(straight)
    for run in (two_one, one_two):
        got = _weights(run)
        history = load(str(run / "checkpoint_last.npz"))["history"]
        assert [e["epoch"] for e in history] == [1, 2]
        for name, value in reference.items():
            numpy.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5,
                                          err_msg=f"{run.name}: {name}")
