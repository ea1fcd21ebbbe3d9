"""Tests of minicnn/tools/profile.py (minicnn.profile) and `minicnn profile`.

Counts are checked against the autograd graph itself (graph_nodes walks the
nodes the step recorded), bytes against the arrays an op saves; no timing is
asserted beyond "present and non-negative".
"""
import json
from collections import Counter

import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.autograd import Function
from minicnn.tools import cli
from minicnn.tools.graph import graph_nodes, trace_graph


class Square(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return 2 * self.x * gy


def _tiny():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 4))
    x = minicnn.Tensor(numpy.random.default_rng(0).standard_normal((2, 1, 6, 6))
                       .astype(numpy.float32))
    return model, x


def _step(model, x):
    loss = F.cross_entropy(model(x), numpy.array([0, 3]))
    loss.backward(retain_graph=True)  # keep the graph to count its nodes
    return loss


def test_counts_equal_the_function_calls_of_the_graph():
    model, x = _tiny()
    with minicnn.profile() as prof:
        loss = _step(model, x)
    expected = Counter(type(fn).__name__ for fn in graph_nodes(loss))
    rows = prof.rows()
    assert {r["op"]: r["count"] for r in rows} == dict(expected)
    assert {"Conv2dFunction", "LinearFunction", "SoftmaxCrossEntropy"} <= set(expected)
    for r in rows:  # every recorded node ran backward once, and was timed both ways
        assert r["backward_count"] == r["count"]
        assert r["forward_ms"] >= 0 and r["backward_ms"] >= 0
    assert sum(r["percent"] for r in rows) == pytest.approx(100.0)


def test_repeated_calls_of_one_instance_each_count():
    square = Square()
    a = minicnn.Tensor(numpy.arange(3.0), requires_grad=True)
    with minicnn.profile() as prof:
        y = square(a) + square(square(a))
        y.sum().backward()
    (row,) = [r for r in prof.rows() if r["op"] == "Square"]
    assert row["count"] == 3 and row["backward_count"] == 3
    assert row["saved_bytes"] == 3 * a.data.nbytes
    numpy.testing.assert_allclose(a.grad, 2 * a.data + 4 * a.data ** 3)


def test_conv_saved_bytes_are_the_arrays_it_saves():
    model, x = _tiny()
    conv = model[0]
    with minicnn.profile() as prof:
        _step(model, x)
    (row,) = [r for r in prof.rows() if r["op"] == "Conv2dFunction"]
    assert row["saved_bytes"] == x.data.nbytes + conv.weight.data.nbytes
    assert row["gflops"] is not None and row["gflops"] > 0
    (relu,) = [r for r in prof.rows() if r["op"] == "ReLUFunction"]
    assert relu["gflops"] is None  # memory bound: no FLOP count


def test_memory_ledger_peaks_at_the_end_of_forward_and_empties_after_backward():
    model, x = _tiny()
    with minicnn.profile() as prof:
        loss = F.cross_entropy(model(x), numpy.array([0, 3]))
        held_before_backward = prof.memory()["held_bytes"]
        loss.backward()
    memory = prof.memory()
    total_saved = sum(r["saved_bytes"] for r in prof.rows())
    assert held_before_backward == total_saved > 0
    assert memory["peak_bytes"] == total_saved
    assert memory["held_bytes"] == 0
    assert sum(memory["by_op"].values()) == total_saved
    assert list(memory["by_op"].values()) == sorted(memory["by_op"].values(), reverse=True)


def test_no_grad_forward_is_timed_but_holds_nothing():
    model, x = _tiny()
    model.eval()
    with minicnn.no_grad(), minicnn.profile() as prof:
        model(x)
    rows = prof.rows()
    assert sum(r["count"] for r in rows) == 5  # conv, relu, pool, flatten, linear
    assert all(r["backward_count"] == 0 and r["saved_bytes"] == 0 for r in rows)
    assert prof.memory()["peak_bytes"] == 0


def test_chrome_trace_has_one_complete_event_per_forward_and_backward(tmp_path):
    model, x = _tiny()
    with minicnn.profile() as prof:
        loss = _step(model, x)
    path = prof.chrome_trace(tmp_path / "sub" / "step.json")
    with open(path, encoding="utf-8") as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    calls = len(graph_nodes(loss))
    assert len(events) == 2 * calls
    assert Counter(e["cat"] for e in events) == {"forward": calls, "backward": calls}
    for e in events:
        assert e["ph"] == "X"
        assert {"name", "cat", "ts", "dur", "pid", "tid"} <= set(e)
        assert e["ts"] >= 0 and e["dur"] >= 0
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert not [p.name for p in (tmp_path / "sub").iterdir() if p.name != "step.json"]


def test_profile_nests_with_trace_graph_and_restores_function():
    original_call, original_backward = Function.__call__, Square.__dict__["backward"]
    model, x = _tiny()
    with trace_graph(model) as stats, minicnn.profile() as prof:
        loss = _step(model, x)
    assert stats["nodes"] == len(graph_nodes(loss)) == sum(r["count"] for r in prof.rows())
    assert Function.__call__ is original_call
    assert Square.__dict__["backward"] is original_backward
    for cls in {type(fn) for fn in graph_nodes(loss)}:
        assert "wrapper" not in cls.backward.__qualname__


def test_cli_profile_lenet5_writes_the_trace(tmp_path, capsys):
    trace = tmp_path / "lenet5.json"
    assert cli.main(["profile", "lenet5", "--steps", "1", "--batch-size", "2",
                     "--backend", "numpy", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "Conv2dFunction" in out and "peak held for backward" in out
    assert "without the profiler" in out
    with open(trace, encoding="utf-8") as f:
        events = json.load(f)["traceEvents"]
    assert {e["cat"] for e in events} == {"forward", "backward"}
    assert sum(e["name"] == "Conv2dFunction" for e in events) == 2 * 3  # 3 convs, fwd+bwd


def test_cli_profile_eval_has_no_backward(capsys):
    assert cli.main(["profile", "lenet5", "--steps", "1", "--eval", "--backend",
                     "numpy"]) == 0
    assert "eval (forward under no_grad)" in capsys.readouterr().out


def test_cli_profile_bad_shape_is_one_line(capsys):
    assert cli.main(["profile", "lenet5", "--input-shape", "1,32"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--input-shape" in err and "3,32,32" in err


def _conv_rows(prof):
    return [r for r in prof.rows() if r["op"] == "Conv2dFunction"]


@pytest.mark.parametrize("forced", ["auto", "direct", "im2col"])
def test_conv_rows_name_the_path_the_kernel_chose(forced):
    pytest.importorskip("numba")
    from minicnn.kernels.cpu.conv import choose_algorithm, conv_algorithm
    model, x = _tiny()
    with minicnn.use_backend("numba"), conv_algorithm(forced):
        with minicnn.profile() as prof:
            _step(model, x)
        expected = choose_algorithm(1, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1)
    (row,) = _conv_rows(prof)
    assert row["algorithm"] == expected
    assert row["count"] == row["backward_count"] == 1  # backward is filed under the same path
    if forced != "auto":
        assert expected == forced  # a 3x3 stride-1 layer can take either path
    assert all(r["algorithm"] is None for r in prof.rows() if r["op"] != "Conv2dFunction")


def test_pointwise_and_reference_convs_are_named():
    conv = nn.Conv2d(4, 2, 1)
    x = minicnn.Tensor(numpy.ones((1, 4, 3, 3), dtype=numpy.float32))
    with minicnn.use_backend("numpy"), minicnn.profile() as reference:
        conv(x)
    assert [r["algorithm"] for r in _conv_rows(reference)] == ["reference"]
    pytest.importorskip("numba")
    with minicnn.use_backend("numba"), minicnn.profile() as numba_run:
        conv(x)
    assert [r["algorithm"] for r in _conv_rows(numba_run)] == ["gemm 1x1"]


def test_peak_percent_is_gflops_over_the_measured_sgemm_rate():
    model, x = _tiny()
    with minicnn.profile() as prof:
        _step(model, x)
    assert all(r["peak_percent"] is None for r in prof.rows())  # no peak measured yet
    prof.sgemm_peak_gflops = 0.5
    (row,) = _conv_rows(prof)
    assert row["peak_percent"] == pytest.approx(200.0 * row["gflops"])
    prof.sgemm_peak_gflops = None
    table = prof.table()  # measures the peak: a conv row has a GFLOP/s figure
    assert prof.sgemm_peak_gflops > 0
    assert "% peak" in table and f"{prof.sgemm_peak_gflops:.0f} GFLOP/s" in table


def test_inference_conv_relu_counts_as_a_convolution():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    x = minicnn.Tensor(numpy.ones((2, 1, 6, 6), dtype=numpy.float32))
    folded = minicnn.optimize_for_inference(model.eval(), example_input=x[:1])
    with minicnn.use_backend("numpy"), minicnn.profile() as prof:
        folded(x)
    (row,) = prof.rows()
    assert row["op"] == "Conv2dReLUFunction" and row["algorithm"] == "reference"
    assert row["gflops"] is not None
