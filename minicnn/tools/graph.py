"""The autograd graph, drawn: one box per Function call, as Graphviz DOT.

    import minicnn
    y = model(x)
    loss = F.cross_entropy(y, labels)
    minicnn.draw_graph(loss, "graph.svg")        # graph.dot always; graph.svg via dot

Each box is a node of the graph (a ``Function`` call): the op, its output
shape and dtype, and the bytes it saved for backward (what ``retain_graph``
keeps alive; "freed" once a backward has released them). Parameters and other
leaves that require a gradient are ellipses, with ``|grad|``, the L2 norm of
their ``.grad``, once a backward has filled it. Edges follow the data, from
an op's inputs to the op.

More is known about a graph built inside ``trace_graph()``, which times each
call by temporarily wrapping ``Function.__call__`` and the ``backward`` of
every Function class it sees (the engine itself is not changed):

    with trace_graph(model):                     # model: label nodes by module
        loss = F.cross_entropy(model(x), labels)
        loss.backward(retain_graph=True)
    draw_graph(loss, "graph.svg", timing=True)   # + forward/backward ms, |gy|

Then every box also shows the norm of the gradient that reached its output,
``timing=True`` adds the forward and backward time of the call, and the boxes
are grouped into one Graphviz cluster per top-level module of ``model``
(``layer1``, ``layer2``... of a ResNet) so a deep network stays readable.

Graphviz (Debian's ``graphviz`` package: ``apt-get install graphviz``) is
only needed for pictures: without its ``dot`` program ``draw_graph`` writes the
.dot file, warns once, and any .dot viewer can show it.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import time
import warnings
import weakref

from minicnn.autograd import _GRAPH_FIELDS, Function, Tensor
from minicnn.backend import get_array_module
from minicnn.runtime.fileio import atomic_write

__all__ = ["draw_graph", "trace_graph", "graph_nodes", "graph_dot", "saved_bytes", "dot_available",
           "wrap_functions",
           "RENDER_FORMATS"]

# suffixes dot renders (anything else than .dot and these is an error)
RENDER_FORMATS = ("svg", "png", "pdf")
DOT_TIMEOUT_S = 300

# node -> what trace_graph measured about it; entries vanish with their nodes
_TRACE: "weakref.WeakKeyDictionary[Function, dict]" = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------ the walk
def graph_nodes(output: Tensor) -> list:
    """Every Function in the graph of ``output``, inputs before the ops that use them.

    Iterative (a ResNet-152 graph is hundreds of nodes deep): a depth-first
    walk over ``node.inputs[k].creator``, then a sort on ``generation`` (a
    node's depth from the leaves is larger than its inputs').
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor output, got {type(output).__name__}")
    if output.creator is None:
        return []
    seen, order, stack = {id(output.creator)}, [], [output.creator]
    while stack:
        fn = stack.pop()
        order.append(fn)
        for t in fn.inputs:
            if t.creator is not None and id(t.creator) not in seen:
                seen.add(id(t.creator))
                stack.append(t.creator)
    order.reverse()  # roughly inputs first; the stable sort below makes it exact
    return sorted(order, key=lambda fn: fn.generation)


def saved_bytes(fn: Function) -> int:
    """Bytes of the arrays ``fn`` holds for backward (its attributes that are not
    graph fields; arrays inside lists and tuples count too)."""
    total = 0
    for name, value in vars(fn).items():
        if name in _GRAPH_FIELDS:
            continue
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if hasattr(item, "nbytes") and hasattr(item, "shape"):
                total += int(item.nbytes)
    return total


def _norm(array) -> float:
    xp = get_array_module(array)
    return float(xp.sqrt((array.astype(xp.float64) ** 2).sum()))


# ------------------------------------------------------------------ tracing
# the (on_forward, on_backward) pairs of the open wrap_functions blocks, and what
# they replaced: Function.__call__ and each patched class's own 'backward' (or None)
_LISTENERS: list = []
_ORIGINAL: dict = {}


def _timed_backward(cls, backward):
    def wrapper(self, *gys):
        start = time.perf_counter()
        gxs = backward(self, *gys)
        end = time.perf_counter()
        # a subclass's wrapper reports its own; one never called (a node that
        # became its fused subclass, as BatchNorm absorbing a ReLU) reports here
        if type(self) is cls or type(self) not in _ORIGINAL:
            for _, on_backward in list(_LISTENERS):
                on_backward(self, gys, start, end)
        return gxs
    return wrapper


def _traced_call(self, *inputs):
    cls = type(self)
    if cls not in _ORIGINAL:
        _ORIGINAL[cls] = cls.__dict__.get("backward")
        cls.backward = _timed_backward(cls, cls.backward)
    start = time.perf_counter()
    out = _ORIGINAL[Function](self, *inputs)
    end = time.perf_counter()
    first = out[0] if isinstance(out, tuple) else out
    node = getattr(first, "grad_fn", None)
    for on_forward, _ in list(_LISTENERS):
        on_forward(self, node, inputs, start, end)
    return out


@contextlib.contextmanager
def wrap_functions(on_forward, on_backward):
    """Call ``on_forward`` after every Function call and ``on_backward`` after
    every backward inside the block: the one instrument behind ``trace_graph``
    and ``minicnn.profile``.

    ``on_forward(fn, node, inputs, start, end)``: ``fn`` the Function called,
    ``node`` the graph node the call recorded (``None`` under ``no_grad`` or
    when no input needs a gradient), ``inputs`` its arguments, ``start``/``end``
    ``time.perf_counter()`` seconds.
    ``on_backward(node, gys, start, end)``: ``gys`` the output gradients.

    Works by replacing ``Function.__call__`` and, for each Function class it
    sees, that class's ``backward`` while any block is open (the engine itself
    is not changed). Blocks may nest: they share one wrapping, so each call is
    timed once and every open block hears of it; the last block to close
    restores everything.
    """
    listener = (on_forward, on_backward)
    if not _LISTENERS:
        _ORIGINAL[Function] = Function.__call__
        Function.__call__ = _traced_call
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)
        if not _LISTENERS:
            Function.__call__ = _ORIGINAL.pop(Function)
            for cls, own in _ORIGINAL.items():
                if own is None:
                    del cls.backward
                else:
                    cls.backward = own
            _ORIGINAL.clear()


@contextlib.contextmanager
def trace_graph(model=None):
    """Record, for every Function call inside the block, its forward and backward
    time, the bytes it saved, the norm of its output gradient, and (given
    ``model``) the top-level module that made it. ``draw_graph`` shows them.

    Works through ``wrap_functions`` (``Function.__call__`` and each Function
    class's ``backward`` wrapped for the duration of the block; everything is
    restored on exit). Yields a dict with ``'nodes'``: the number of calls that
    recorded a node.
    """
    stats = {"nodes": 0}
    current = {"module": None}
    handles = []

    def on_forward(fn, node, inputs, start, end):
        if node is not None:
            stats["nodes"] += 1
            _TRACE[node] = {"forward_s": end - start, "saved_bytes": saved_bytes(node),
                            "module": current["module"]}

    def on_backward(node, gys, start, end):
        if node in _TRACE:
            entry = _TRACE[node]
            entry["backward_s"] = entry.get("backward_s", 0.0) + end - start
            entry["grad_norm"] = math.sqrt(sum(_norm(g) ** 2 for g in gys))

    if model is not None:
        for name, child in model.named_children():
            def enter(module, args, name=name):
                current["module"] = name

            def leave(module, args, output):
                current["module"] = None
            handles.append(child.register_forward_pre_hook(enter))
            handles.append(child.register_forward_hook(leave))
    try:
        with wrap_functions(on_forward, on_backward):
            yield stats
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------- DOT
def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _quote(text: str) -> str:
    """A DOT string literal: backslashes and quotes escaped, lines as \\n."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\n", "\\n") + '"'


def _shape_text(shape, dtype) -> str:
    return f"{tuple(int(s) for s in shape)} {dtype}"


def graph_dot(output: Tensor, timing: bool = False, params: dict | None = None,
              title: str | None = None) -> str:
    """The DOT text ``draw_graph`` writes (see the module docstring)."""
    nodes = graph_nodes(output)
    if timing:
        untimed = [fn for fn in nodes if "forward_s" not in _TRACE.get(fn, {})]
        if untimed or not nodes:
            raise ValueError(
                f"draw_graph: timing=True, but {len(untimed) or 'all'} of the graph's nodes "
                f"were not timed; build (and back-propagate) the graph inside "
                f"`with minicnn.tools.graph.trace_graph():`")
    names = {id(p): name for name, p in (params or {}).items()}
    ids = {id(fn): f"fn{k}" for k, fn in enumerate(nodes)}
    lines = ["digraph minicnn {",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=11'
             + (f", label={_quote(title)}, labelloc=t" if title else "") + "];",
             '  node [shape=box, style="rounded,filled", fillcolor="#dbe9f6", '
             'fontname="Helvetica", fontsize=10];',
             '  edge [color="#555555"];']
    clusters: dict = {}
    total_saved = 0
    for fn in nodes:
        info = _TRACE.get(fn, {})
        label = [type(fn).__name__]
        label += [_shape_text(shape, dtype) for shape, dtype in fn.output_meta]
        if fn.released:
            held = info.get("saved_bytes")
            label.append("saved: freed" if held is None else f"saved {_human(held)} (freed)")
        else:
            held = saved_bytes(fn)
            total_saved += held
            label.append(f"saved {_human(held)}")
        if "grad_norm" in info:
            label.append(f"|grad| {info['grad_norm']:.3g}")
        if timing:
            label.append(f"fwd {info['forward_s'] * 1e3:.3f} ms")
            if "backward_s" in info:
                label.append(f"bwd {info['backward_s'] * 1e3:.3f} ms")
        style = ""
        if output.creator is fn:
            style = ', penwidth=2, fillcolor="#c7e9c0"'
        statement = f"  {ids[id(fn)]} [label={_quote(chr(10).join(label))}{style}];"
        module = info.get("module")
        if module is None:
            lines.append(statement)
        else:
            clusters.setdefault(module, []).append(statement)
    for k, (module, statements) in enumerate(clusters.items()):
        lines.append(f"  subgraph cluster_{k} {{")
        lines.append(f'    label={_quote(module)}; style="rounded,dashed"; color="#888888";')
        lines.extend("  " + s for s in statements)
        lines.append("  }")
    # leaves that want a gradient (parameters, inputs with requires_grad)
    leaves = {}
    for fn in nodes:
        for t in fn.inputs:
            if t.creator is None and t.requires_grad and id(t) not in leaves:
                leaves[id(t)] = (f"leaf{len(leaves)}", t)
    for key, (leaf_id, t) in leaves.items():
        label = [names.get(key, "leaf"), _shape_text(t.shape, t.dtype)]
        if t.grad is not None:
            label.append(f"|grad| {_norm(t.grad):.3g}")
        lines.append(f"  {leaf_id} [label={_quote(chr(10).join(label))}, shape=ellipse, "
                     f'style=filled, fillcolor="#fff2c6"];')
    for fn in nodes:
        for t in fn.inputs:
            if t.creator is not None:
                lines.append(f"  {ids[id(t.creator)]} -> {ids[id(fn)]};")
            elif id(t) in leaves:
                lines.append(f"  {leaves[id(t)][0]} -> {ids[id(fn)]};")
    lines.append(f"  // {len(nodes)} Function nodes, {len(leaves)} leaves, "
                 f"{_human(total_saved)} saved for backward")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def draw_graph(output: Tensor, path, timing: bool = False, params: dict | None = None,
               title: str | None = None) -> list:
    """Draw the autograd graph of ``output``; returns the paths written.

    Args:
        output: the Tensor whose graph to draw (typically the loss).
        path: ``graph.dot``, or ``graph.svg`` / ``.png`` / ``.pdf``: the DOT is
            always written (next to the picture, as ``graph.dot``) and Graphviz's
            ``dot`` renders the picture when it is installed (a warning says so
            when it is not).
        timing: add each node's forward and backward time; the graph must have
            been built inside ``trace_graph()``.
        params: ``dict(model.named_parameters())`` to name the parameter leaves.
        title: a caption.
    """
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    fmt = suffix.lower().lstrip(".")
    if fmt != "dot" and fmt not in RENDER_FORMATS:
        raise ValueError(f"draw_graph: path {path!r} must end in .dot or one of "
                         f"{', '.join('.' + f for f in RENDER_FORMATS)}")
    text = graph_dot(output, timing=timing, params=params, title=title)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    dot_path = stem + ".dot"
    with atomic_write(dot_path, "w", encoding="utf-8") as f:
        f.write(text)
    written = [dot_path]
    if fmt == "dot":
        return written
    if not dot_available():
        warnings.warn(f"draw_graph: Graphviz's dot is not installed (apt-get install "
                      f"graphviz); wrote {dot_path} but not {path}", stacklevel=2)
        return written
    result = subprocess.run(["dot", f"-T{fmt}"], input=text.encode("utf-8"),
                            capture_output=True, timeout=DOT_TIMEOUT_S, check=False)
    if result.returncode != 0:
        first = result.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise RuntimeError(f"draw_graph: dot -T{fmt} failed on {dot_path}: "
                           f"{first[0] if first else 'exit ' + str(result.returncode)}")
    with atomic_write(path) as f:
        f.write(result.stdout)
    written.append(path)
    return written
