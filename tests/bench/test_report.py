"""benchmarks/report.py: JSON schema, targets and the tables."""
import json

import pytest

from minicnn.bench.report import (
    SCHEMA,
    markdown_ops,
    markdown_targets,
    targets,
    validate,
    write_json,
)
from minicnn.bench.scaling import fit


def _op(case, direction, framework, backend, median, op="conv2d"):
    return {"op": op, "case": case, "direction": direction, "framework": framework,
            "backend": backend, "median": median, "q1": median, "q3": median, "iqr": 0.0,
            "runs": 3, "flops": 10**9, "gflops_per_s": 1.0 / median,
            "ratio_to_torch": None}


def _doc(ops):
    return {"schema": SCHEMA, "environment": {}, "sgemm_peak_gflops": 50.0, "ops": ops,
            "models": [], "scaling": {"points": [], "fits": []}, "targets": []}


def test_targets_geomean_of_fwd_plus_bwd():
    ops = []
    for case, ratio in (("ResNet-50 3x3 @56", 1.0), ("ResNet-50 1x1 @56", 4.0)):
        ops += [_op(case, "forward", "torch", "cpu", 1.0),
                _op(case, "backward", "torch", "cpu", 1.0),
                _op(case, "forward", "minicnn", "numba", ratio),
                _op(case, "backward", "minicnn", "numba", ratio)]
    (conv,) = targets(ops, [])
    assert conv["value"] == pytest.approx(2.0)    # sqrt(1 * 4)
    assert conv["limit"] == 1.0 and conv["met"] is False
    assert "| no |" in markdown_targets([conv])
    forced = {"blas_env": {"OPENBLAS_CORETYPE": "Haswell"}, "threads": 2}
    (conv,) = targets(ops, [], environment=forced)
    assert conv["limit"] == 1.2 and "OPENBLAS_CORETYPE" in conv["target"]


def test_one_thread_target_takes_the_worst_conv_case():
    ops = []
    for case, ratio in (("VGG-16 conv1_2 3x3", 1.4), ("ResNet-50 3x3 @56", 1.6)):
        ops += [_op(case, d, "torch", "cpu", 1.0) for d in ("forward", "backward")]
        ops += [_op(case, d, "minicnn", "numba", ratio) for d in ("forward", "backward")]
    assert not any("one thread" in t["target"] for t in targets(ops, [],
                                                                environment={"threads": 2}))
    (one,) = [t for t in targets(ops, [], environment={"threads": 1})
              if "one thread" in t["target"]]
    assert one["value"] == pytest.approx(1.6) and one["met"] is False


def _model(name, mode, ratio):
    return {"model": name, "mode": mode, "framework": "minicnn", "backend": "numba",
            "ratio_to_torch": ratio}


def test_model_and_import_order_targets():
    rows = targets([], [_model("lenet5", "train", 1.05), _model("resnet20", "train", 1.15),
                        _model("resnet20", "inference", 0.9)],
                   import_order=[{"row": "a", "slowdown": 1.02}, {"row": "b", "slowdown": 1.3}])
    by_name = {r["target"]: r for r in rows}
    assert by_name["numba lenet5 training step x torch"]["met"] is False     # limit 1.0
    assert by_name["numba resnet20 training step x torch"]["met"] is True    # limit 1.2
    assert by_name["numba resnet20 inference x torch"]["met"] is True
    (order,) = [r for r in rows if r["target"].startswith("torch imported first")]
    assert order["value"] == 1.3 and "(b)" in order["target"] and order["met"] is False


def test_validate_and_write_json(tmp_path):
    doc = _doc([_op("c", "forward", "torch", "cpu", 0.5)])
    path = tmp_path / "r.json"
    write_json(doc, path)
    assert json.loads(path.read_text())["schema"] == SCHEMA
    bad = _doc([{**doc["ops"][0], "median": "fast"}])
    with pytest.raises(ValueError, match=r"ops\[0\]\.median"):
        validate(bad)
    with pytest.raises(ValueError, match="missing top-level key"):
        validate({"schema": SCHEMA})
    assert "| conv2d | c | forward | torch/cpu |" in markdown_ops(doc["ops"])


def test_fit_is_exact_on_a_line():
    result = fit([1e9, 2e9, 3e9], [0.1, 0.2, 0.3])
    assert result["seconds_per_gflop"] == pytest.approx(0.1)
    assert result["r2"] == pytest.approx(1.0)


def test_memory_and_startup_targets():
    memory = [{"batch": 32, "backend": "numba", "peak_rss_bytes": 30 * 2**30}]
    rows = targets([], [], memory, {"first_s": 9.0, "second_s": 1.5})
    by_name = {r["target"].split(",")[0]: r for r in rows}
    assert by_name["VGG-16 fwd+bwd"]["met"] is False            # 30 GiB > 24 GiB
    assert by_name["numba backend start-up with a warm cache"]["met"] is True
