"""Tests of minicnn/tools/graph.py (draw_graph, trace_graph) and `minicnn graph`.

The DOT is read back by a small parser written here for the subset draw_graph
writes (node, edge, attribute and cluster statements), and by Graphviz's own
``dot -Tcanon`` when it is installed.
"""
import re
import shutil
import subprocess

import numpy
import pytest

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.autograd import Function
from minicnn.tools import cli
from minicnn.tools.cli import _default_shape, build_model
from minicnn.tools.graph import draw_graph, graph_dot, graph_nodes, trace_graph
from minicnn.zoo import list_models

HAS_DOT = shutil.which("dot") is not None
NO_DOT = "Graphviz's dot is not installed (apt-get install graphviz)"

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ATTRS = rf"\[(?:\s*\w+=(?:{_QUOTED}|[^,\]\s]+)\s*,?)*\s*\]"
_STATEMENTS = [
    re.compile(rf"^(graph|node|edge) {_ATTRS};$"),
    re.compile(rf"^(?P<node>\w+) {_ATTRS};$"),
    re.compile(r"^(?P<tail>\w+) -> (?P<head>\w+);$"),
    re.compile(r"^subgraph cluster_\d+ \{$"),
    re.compile(rf"^(\w+=(?:{_QUOTED}|[^;\s]+); ?)+$"),
    re.compile(r"^\}$"),
    re.compile(r"^//.*$"),
]


def parse_dot(text):
    """(nodes, edges) of the DOT subset draw_graph writes; AssertionError when invalid."""
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] == "digraph minicnn {" and lines[-1] == "}", "not one digraph"
    nodes, edges, depth = [], [], 1
    for line in lines[1:-1]:
        match = next((m for m in (p.match(line) for p in _STATEMENTS) if m), None)
        assert match is not None, f"not a DOT statement: {line!r}"
        depth += line.endswith("{") - (line == "}")
        assert depth >= 1, "unbalanced braces"
        groups = match.groupdict()
        if groups.get("node"):
            nodes.append(groups["node"])
        if groups.get("tail"):
            edges.append((groups["tail"], groups["head"]))
    assert depth == 1, "unbalanced braces"
    assert len(set(nodes)) == len(nodes), "a node is declared twice"
    for tail, head in edges:
        assert tail in nodes and head in nodes, f"edge {tail} -> {head} to an undeclared node"
    return nodes, edges


def small_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def test_nodes_boxes_and_edges_of_a_small_graph():
    model = small_net()
    x = minicnn.Tensor(numpy.random.default_rng(0).standard_normal((2, 1, 4, 4)))
    with trace_graph(model) as stats:
        loss = F.cross_entropy(model(x.float()), [0, 2])
    text = graph_dot(loss, params=dict(model.named_parameters()))
    nodes, edges = parse_dot(text)
    functions = [n for n in nodes if n.startswith("fn")]
    assert len(functions) == stats["nodes"] == len(graph_nodes(loss))
    # the six parameters (conv, bn and linear weight + bias) are named leaves
    for name, _ in model.named_parameters():
        assert f'"{name}\\n' in text
    assert sum(n.startswith("leaf") for n in nodes) == 6
    assert "Conv2dFunction\\n(2, 2, 4, 4) float32" in text
    assert 'label="0"' in text and 'label="4"' in text  # clusters per top-level module
    # graph_nodes lists inputs before the ops that read them
    order = {id(fn): k for k, fn in enumerate(graph_nodes(loss))}
    for fn in graph_nodes(loss):
        for t in fn.inputs:
            if t.creator is not None:
                assert order[id(t.creator)] < order[id(fn)]


def test_saved_bytes_gradient_norms_and_timing_after_backward():
    x = minicnn.Tensor(numpy.arange(6.0).reshape(2, 3), requires_grad=True)
    with trace_graph():
        y = (x * x).sum()
        y.backward(retain_graph=True)
    text = graph_dot(y, timing=True, params={"x": x})
    # Mul saves both (2, 3) float64 operands: 2 * 48 bytes
    assert "saved 96 B" in text
    assert f"|grad| {numpy.linalg.norm(2 * numpy.arange(6.0)):.3g}" in text  # x.grad = 2x
    assert "fwd " in text and "bwd " in text
    # without retain_graph the buffers are freed; the box says so
    with trace_graph():
        z = (x * x).sum()
        z.backward()
    assert "saved 96 B (freed)" in graph_dot(z)


def test_trace_graph_restores_the_engine():
    before = Function.__call__
    with trace_graph():
        y = (minicnn.Tensor([1.0], requires_grad=True) * 2).sum()
        y.backward()
    assert Function.__call__ is before
    mul = type(y.creator.inputs[0].creator)
    assert "backward" in vars(mul) and mul.backward.__qualname__.startswith(mul.__name__)


def test_timing_needs_a_traced_graph():
    y = (minicnn.Tensor([1.0, 2.0], requires_grad=True) * 3).sum()
    with pytest.raises(ValueError, match="trace_graph"):
        graph_dot(y, timing=True)


def test_bad_suffix_and_untraced_output(tmp_path):
    y = (minicnn.Tensor([1.0], requires_grad=True) * 3).sum()
    with pytest.raises(ValueError, match=r"must end in \.dot"):
        draw_graph(y, tmp_path / "g.jpeg")
    with pytest.raises(TypeError, match="expected a Tensor"):
        draw_graph(numpy.ones(3), tmp_path / "g.dot")


@pytest.mark.skipif(not HAS_DOT, reason=NO_DOT)
def test_renders_svg_and_dot_accepts_it(tmp_path):
    model = small_net()
    loss = F.cross_entropy(model(minicnn.Tensor(numpy.ones((2, 1, 4, 4)), dtype="f4")), [1, 1])
    written = draw_graph(loss, tmp_path / "g.svg", title='a "quoted" title')
    assert written == [str(tmp_path / "g.dot"), str(tmp_path / "g.svg")]
    assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    canon = subprocess.run(["dot", "-Tcanon", str(tmp_path / "g.dot")], capture_output=True)
    assert canon.returncode == 0, canon.stderr


def test_without_dot_writes_the_dot_file_and_warns(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    y = (minicnn.Tensor([1.0], requires_grad=True) * 3).sum()
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        written = draw_graph(y, tmp_path / "g.png")
    assert written == [str(tmp_path / "g.dot")] and not (tmp_path / "g.png").exists()


# one of each family runs in the quick suite; the others (deep or wide) are slow
QUICK = {"lenet5", "cifar_cnn", "fashion_mnist_cnn", "cifar10_bn_cnn", "resnet18", "resnet20",
         "vgg11"}


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in list_models()])
def test_valid_dot_for_every_zoo_model(name):
    C = _default_shape(name)[0]
    S = {"fashion_mnist_cnn": 28, "alexnet": 64}.get(name, 32)
    model, _, _ = build_model(name, 10, C, S)
    model.train()
    x = minicnn.Tensor(numpy.random.default_rng(0).standard_normal((2, C, S, S)).astype("f4"))
    with minicnn.use_backend("numpy"), trace_graph(model) as stats:
        out = model(x)
        loss = sum(F.cross_entropy(o, [1, 2]) for o in (out if isinstance(out, tuple)
                                                        else [out]))
    text = graph_dot(loss)
    nodes, _ = parse_dot(text)
    assert sum(n.startswith("fn") for n in nodes) == stats["nodes"]
    if HAS_DOT:
        canon = subprocess.run(["dot", "-Tcanon"], input=text.encode(), capture_output=True)
        assert canon.returncode == 0, canon.stderr.decode()[:300]


def test_cli_graph_draws_a_zoo_model(tmp_path, capsys):
    out = tmp_path / "lenet.dot"
    code = cli.main(["graph", "lenet5", "--variant", "modern", "--out", str(out), "--timing"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    nodes, _ = parse_dot(out.read_text())
    count = int(re.search(r"(\d+) Function nodes", printed).group(1))
    assert sum(n.startswith("fn") for n in nodes) == count
    assert "fwd " in out.read_text() and "conv1.weight" in out.read_text()
    code = cli.main(["graph", "nosuchnet", "--out", str(out)])
    assert code == 1 and "unknown model 'nosuchnet'" in capsys.readouterr().err
