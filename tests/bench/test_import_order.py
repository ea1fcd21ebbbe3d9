"""benchmarks/import_order.py: the child processes and how their runs combine."""
import subprocess

import pytest

from minicnn.bench import import_order
from minicnn.runtime import threads


def test_combine_takes_medians_and_divides_by_the_minicnn_first_time():
    runs = [("minicnn-first", {"conv": {"minicnn": 1.0, "torch": 1.0}}),
            ("torch-first", {"conv": {"minicnn": 1.5, "torch": 1.0}}),
            ("minicnn-first", {"conv": {"minicnn": 3.0, "torch": 2.0}}),
            ("torch-first", {"conv": {"minicnn": 2.5, "torch": 1.0}}),
            ("minicnn-first", {"only one order": {"minicnn": 1.0, "torch": 1.0}})]
    (record,) = import_order.combine(runs)   # a row seen in one order only is dropped
    assert record["row"] == "conv" and record["rounds"] == 2
    assert record["minicnn_first_s"] == 2.0 and record["torch_first_s"] == 2.0
    assert record["slowdown"] == pytest.approx(1.0)
    assert record["ratio_to_torch_minicnn_first"] == pytest.approx(2.0 / 1.5)
    assert record["ratio_to_torch_torch_first"] == pytest.approx(2.0)
    assert "| conv | 2e+03 | 2e+03 | 1.00 |" in import_order.markdown_import_order([record])


def test_rows_sum_a_conv_case_and_keep_only_numba_and_torch():
    doc = {"ops": [{"case": "c", "framework": f, "backend": b, "median": m}
                   for f, b, m in (("minicnn", "numba", 1.0), ("minicnn", "numba", 2.0),
                                   ("minicnn", "numpy", 9.0), ("torch", "cpu", 0.5))],
           "models": [{"model": "lenet5", "mode": "train", "framework": "torch",
                       "backend": "cpu", "median": 0.25}]}
    rows = import_order._rows(doc)
    assert rows == {"c fwd+bwd": {"minicnn": 3.0, "torch": 0.5},
                    "lenet5 train step": {"torch": 0.25}}


def test_child_env_gives_back_the_users_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # what minicnn's import set
    monkeypatch.setattr(threads, "USER_OMP_WAIT_POLICY", None)
    assert "OMP_WAIT_POLICY" not in import_order._child_env()
    monkeypatch.setattr(threads, "USER_OMP_WAIT_POLICY", "ACTIVE")
    assert import_order._child_env()["OMP_WAIT_POLICY"] == "ACTIVE"


def test_child_imports_torch_before_minicnn_then_runs_the_bench():
    pytest.importorskip("torch")
    command = import_order.child_command("torch-first", ["--help"])
    assert command[2].split("\n", 1)[0] == "import torch"
    assert import_order.child_command("minicnn-first", [])[2].startswith("import minicnn\n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "minicnn bench" in done.stdout and "import-order" in done.stdout


def test_unknown_order_is_one_line():
    with pytest.raises(ValueError, match="expected one of"):
        import_order.child_command("numba-first", [])
