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
    assert conv["met"] is True
    assert "| yes |" in markdown_targets([conv])


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
