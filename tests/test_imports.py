"""The package's shape: module-level imports form no cycle, and follow the
engine's one-way order

    settings, runtime -> backend, rng -> autograd -> ops -> functional -> nn, optim
    -> zoo, data -> train -> tools

with kernels/ (``minicnn.kernels``) depending only on backend, settings, runtime,
the convolution geometry and the Winograd matrices. Imports inside functions
are not counted: they run late, and are kept for optional heavy packages and
for the few upward calls (``Module.summary``) that say so where they stand.
"""
import ast
import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# A module may import modules of its own rank or lower (longest prefix wins).
RANKS = {
    "minicnn.settings": 0, "minicnn.runtime": 0, "minicnn.version": 0,
    "minicnn.backend": 1, "minicnn.rng": 1,
    "minicnn.autograd": 2,
    "minicnn.ops": 3,
    "minicnn.functional": 4,
    "minicnn.nn": 5, "minicnn.optim": 5, "minicnn.gradient_check": 5, "minicnn.testing": 5,
    "minicnn.serialization": 5,
    "minicnn.zoo": 6, "minicnn.data": 6,
    "minicnn.train": 7, "minicnn.distributed": 7,
    "minicnn.tools": 8, "minicnn.exercises": 8, "minicnn.bench": 8,
    "minicnn": 9,
}
KERNELS_MAY_IMPORT = ("minicnn.backend", "minicnn.settings", "minicnn.runtime",
                      "minicnn.functional._geometry", "minicnn.kernels",
                      # the Winograd matrices: numpy constants shared by the
                      # reference (functional/conv_winograd.py) and kernels/cpu/winograd.py
                      "minicnn.functional._winograd")


def _layout() -> dict:
    """setup.py's package -> folder table (the packages minicnn installs)."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LAYOUT":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no LAYOUT table")


def _modules() -> dict:
    """Every module minicnn installs: dotted name -> source path."""
    modules = {}
    for package, folder in _layout().items():
        folder = ROOT / folder
        if not (folder / "__init__.py").exists():
            continue
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def _top_level_statements(body):
    """Statements that run at import time: not inside a def."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _top_level_statements(getattr(node, field, []) or [])


def _imports(name: str, path: pathlib.Path, modules: dict) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in _top_level_statements(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[:len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == "minicnn" or t.startswith("minicnn."))
    found.discard(name)
    return {t for t in found if t in modules}


@pytest.fixture(scope="module")
def graph():
    modules = _modules()
    assert "minicnn.autograd" in modules and "minicnn.kernels" in modules
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _rank(name: str) -> int:
    prefix = max((p for p in RANKS if name == p or name.startswith(p + ".")), key=len)
    return RANKS[prefix]


def find_cycle(graph: dict):
    """One import cycle as a list of names (first = last), or None. Iterative DFS."""
    state = {}   # 1: on the current path, 2: finished
    for start in sorted(graph):
        if state.get(start):
            continue
        state[start] = 1
        path, stack = [start], [iter(sorted(graph[start]))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def test_module_level_imports_have_no_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_follow_the_engine_order(graph):
    upward = [f"{name} imports {target}"
              for name, targets in sorted(graph.items()) for target in sorted(targets)
              if not name.startswith("minicnn.kernels") and _rank(target) > _rank(name)]
    assert not upward, "imports against the order:\n" + "\n".join(upward)


def test_kernels_depend_only_on_backend_and_geometry(graph):
    bad = [f"{name} imports {target}"
           for name, targets in sorted(graph.items()) if name.startswith("minicnn.kernels")
           for target in sorted(targets) if not target.startswith(KERNELS_MAY_IMPORT)]
    assert not bad, "\n".join(bad)


def test_the_engine_core_imports_only_what_sits_below_it(graph):
    assert graph["minicnn.autograd"] <= {"minicnn.backend", "minicnn.settings"}
    assert "minicnn.autograd" in graph["minicnn.ops"]


def test_the_walk_sees_a_planted_cycle(tmp_path):
    """The cycle test can fail: two modules that import each other are caught."""
    (tmp_path / "a.py").write_text("from minicnn.b import x\n")
    (tmp_path / "b.py").write_text("import minicnn.a\nx = 1\n")
    modules = {"minicnn.a": tmp_path / "a.py", "minicnn.b": tmp_path / "b.py"}
    planted = {n: _imports(n, p, modules) for n, p in modules.items()}
    assert planted == {"minicnn.a": {"minicnn.b"}, "minicnn.b": {"minicnn.a"}}
    assert find_cycle(planted) == ["minicnn.a", "minicnn.b", "minicnn.a"]


def test_every_installed_package_is_importable():
    for package in _layout():
        assert importlib.util.find_spec(package) is not None, package


def test_every_subpackage_is_installed():
    """A folder with an __init__.py under an installed package is in setup.py's
    LAYOUT, or a regular (non-editable) install would leave it out."""
    layout = _layout()
    folders = {(ROOT / path).resolve() for path in layout.values()}
    missing = []
    for path in layout.values():
        for init in (ROOT / path).rglob("__init__.py"):
            folder = init.parent.resolve()
            if folder not in folders and "__pycache__" not in folder.parts:
                missing.append(str(folder.relative_to(ROOT)))
    assert not missing, f"packages missing from setup.py's LAYOUT: {sorted(missing)}"
