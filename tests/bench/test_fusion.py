"""benchmarks/fusion.py: the fused and unfused variants it times agree, and each
record carries the ratios the report quotes."""
import pytest

import minicnn
from minicnn import nn
from minicnn.bench import fusion

pytest.importorskip("numba")


def test_op_variants_agree_and_are_timed():
    with minicnn.use_backend("numba"):
        records = fusion.run_ops(shapes=[(2, 3, 4, 4)], rounds=1)
    assert [r["op"] for r in records] == ["batch_norm -> relu", "add -> relu"]
    for r in records:
        assert min(r["unfused_ms"], r["fused_ms"], r["inplace_ms"]) > 0
        assert r["fused_over_unfused"] == pytest.approx(r["fused_ms"] / r["unfused_ms"])


def test_the_unfused_twin_has_no_inplace_relu():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
    twin = fusion._without_inplace_relu(model)
    assert model[1].inplace and not twin[1].inplace
