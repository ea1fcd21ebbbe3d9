"""benchmarks/cli.py: ``minicnn bench --quick`` end to end, on numpy and numba."""
import json

import pytest

from minicnn.bench.cli import main
from minicnn.bench.report import validate


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path, capsys):
    out_json = tmp_path / "bench.json"
    charts = tmp_path / "charts"
    # no bound on its time here: timings belong to the benchmarks, not the tests
    assert main(["--quick", "--backends", "numpy,numba", "--threads", "1",
                 "--json", str(out_json), "--out", str(charts)]) == 0
    doc = json.loads(out_json.read_text())
    validate(doc)
    engines = {(r["framework"], r["backend"]) for r in doc["ops"]}
    assert {("minicnn", "numpy"), ("minicnn", "numba"), ("torch", "cpu")} <= engines
    assert {r["op"] for r in doc["ops"]} >= {"conv2d", "max_pool2d", "lrn", "batch_norm",
                                             "linear", "cross_entropy"}
    assert {(r["model"], r["mode"]) for r in doc["models"]} == {
        ("lenet5", "train"), ("lenet5", "inference")}
    assert all(r["median"] > 0 for r in doc["ops"] + doc["models"])
    assert [r["layer"] for r in doc["conv_paths"]] == ["conv1 5x5", "conv2 5x5 'same'"]
    assert all(r["im2col_median"] > 0 and r["direct_median"] > 0 and r["auto"] == "direct"
               for r in doc["conv_paths"])
    assert {f["sweep"] for f in doc["scaling"]["fits"]} == {"batch", "image", "channels"}
    assert doc["environment"]["blas"], "the BLAS library must be reported"
    assert (charts / "ops_ratio.png").stat().st_size > 0
    assert (charts / "scaling.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "## Ops" in printed and "core=" in printed and "x torch" in printed
    assert "direct, im2col or Winograd" in printed


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--quick", "--json", "--native-blas", "--backends", "--out"):
        assert flag in text


def test_native_blas_reruns_without_the_openblas_variables(monkeypatch):
    # The machine's own OPENBLAS_* settings are left alone: a plain dict stands in.
    import minicnn.bench.cli as bench_cli
    forced = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576", "HOME": "/h"}
    assert bench_cli.native_blas_env(forced) == {"HOME": "/h"}
    seen = {}

    def fake_call(cmd, env):
        seen["cmd"], seen["env"] = cmd, env
        return 0

    monkeypatch.setattr(bench_cli.subprocess, "call", fake_call)
    assert main(["--native-blas", "--quick", "--only", "ops"]) == 0
    assert "OPENBLAS_CORETYPE" not in seen["env"] and "OPENBLAS_L2_SIZE" not in seen["env"]
    assert seen["cmd"][-3:] == ["--quick", "--only", "ops"]
    assert "--native-blas" not in seen["cmd"]
