"""The packages are layers: a module imports only its own layer or a lower one.

Every ``import`` in kshell/, commands/ and history/ is read with ``ast`` (lazy imports inside
functions and ``TYPE_CHECKING`` imports included: a type-only edge is still an edge a reader
follows). One ordered list, ``LAYERS``, says who is below whom; a new upward import fails here
with the file, the line and the two layers. A second test finds every import cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> the package it installs as (setup.cfg's package_dir)
PACKAGES = {"kshell": "kshell", "commands": "kshell.commands", "history": "kshell.history"}

# Lowest first. The modules of one layer may import each other; a module may import any
# layer below its own and none above. The leaves are one layer each, in the order they
# build on each other (results wraps an error, events carry a result, fanin gathers
# failures, home raises a usage error), so a leaf imports only the leaves before it.
LAYERS: list[tuple[str, ...]] = [
    ("kshell.errors",),
    ("kshell.text",),
    ("kshell.results",),
    ("kshell.events",),
    ("kshell.fanin",),
    ("kshell.home",),
    ("kshell.device",),
    ("kshell.lang",),
    ("kshell.store",),
    ("kshell.core",),
    ("kshell.work",),
    ("kshell.commands", "kshell.history"),
    ("kshell.ui",),
    ("kshell.app",),
]
# The package's own __init__ (it only finds commands/ and history/ in a checkout).
ROOT_PACKAGE = "kshell"
# The simulator stands outside the layers: it mirrors the plugs and shares no behaviour with
# the client. It may read the XOR codec and the errors, and one table of facts: the
# firmware's time-zone table, which the client and the plug must agree on word for word.
SIMULATOR = "kshell.simulator"
# Only the app starts simulated plugs (``--demo``); nothing else in the client reads them.
SIMULATOR_USERS = ("kshell.app",)
SIMULATOR_MAY_IMPORT = (
    SIMULATOR,
    "kshell.errors",
    "kshell.device.codec",
    "kshell.device.capabilities.iot_zones",
)
# Drawing libraries: only the terminal surfaces (ui/ and app/) load them.
DRAWING = ("prompt_toolkit", "pygments")
SURFACES = ("kshell.ui", "kshell.app")
COMPLETION_ENGINE = "kshell.ui.completer.engine"


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name
    imported: str  # dotted module name (for ``from m import n``: m, or m.n when a module)
    where: str  # path:line
    type_only: bool = False  # under ``if TYPE_CHECKING:``: never runs, names a type

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    rest = parts[1:-1] if parts[-1] == "__init__" else parts[1:]
    return ".".join((PACKAGES[parts[0]], *rest))


def source_files(root: Path) -> list[Path]:
    return [p for folder in PACKAGES for p in sorted((root / folder).rglob("*.py"))]


def read_edges(root: Path = ROOT) -> list[Edge]:
    files = source_files(root)
    modules = {module_name(p, root) for p in files}
    edges: list[Edge] = []
    for path in files:
        name = module_name(path, root)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body
            for inner in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            hint = id(node) in type_only
            if isinstance(node, ast.Import):
                edges += [Edge(name, alias.name, where, hint) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    edges.append(Edge(name, sub if sub in modules else base, where, hint))
    return edges


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_of(module: str) -> int | None:
    """The index of the module's layer in ``LAYERS``; None outside every layer."""
    for index, layer in enumerate(LAYERS):
        if within(module, layer):
            return index
    return None


def upward(edges: list[Edge]) -> list[str]:
    """Every import of a higher layer, and every import out of the simulator but the few it
    may read (and every import of the simulator by the client)."""
    out = []
    for e in edges:
        if not within(e.imported, (ROOT_PACKAGE,)) or e.imported == ROOT_PACKAGE:
            continue
        if within(e.importer, (SIMULATOR,)):
            if not within(e.imported, SIMULATOR_MAY_IMPORT):
                out.append(f"{e} (the simulator shares only the codec, errors, zone table)")
            continue
        if within(e.imported, (SIMULATOR,)):
            if not within(e.importer, SIMULATOR_USERS):
                out.append(f"{e} (only the app starts simulated plugs)")
            continue
        low, high = layer_of(e.importer), layer_of(e.imported)
        if low is None or high is None:
            out.append(f"{e} (a module outside every layer: add it to LAYERS)")
        elif high > low:
            out.append(f"{e} (layer {LAYERS[low][0]} is below {LAYERS[high][0]})")
    return out


def draws_below_the_surfaces(edges: list[Edge]) -> list[str]:
    return [
        str(e) for e in edges if within(e.imported, DRAWING) and not within(e.importer, SURFACES)
    ]


def closure(edges: list[Edge], start: str) -> dict[str, str]:
    """Every module ``start`` can end up importing when it runs (lazily or not; type-only
    imports never run), with the edge that got there."""
    by_importer: dict[str, list[Edge]] = {}
    for e in edges:
        if not e.type_only:
            by_importer.setdefault(e.importer, []).append(e)
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        for e in by_importer.get(todo.pop(), []):
            if e.imported not in seen:
                seen[e.imported] = str(e)
                todo.append(e.imported)
    return seen


def engine_draws(edges: list[Edge]) -> list[str]:
    reached = closure(edges, COMPLETION_ENGINE)
    return [how for module, how in reached.items() if within(module, DRAWING)]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, with
    an explicit stack), over every edge between our modules: lazy and type-only too. A
    package's ``__init__`` importing its own submodule, or a module itself, is no cycle."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        if within(e.imported, (ROOT_PACKAGE,)) and e.imported != e.importer:
            graph.setdefault(e.importer, set()).add(e.imported)
            graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


EDGES = read_edges()


def test_the_reader_sees_the_imports_it_must_judge():
    """The rules below are only as good as the edges: spot-check that lazy, relative-free,
    TYPE_CHECKING and ``from package import module`` imports are all read."""
    pairs = {(e.importer, e.imported) for e in EDGES}
    assert ("kshell.ui.runner", "kshell.ui.views") in pairs  # from kshell.ui.views import ...
    assert ("kshell.app.cli", "kshell.app.repl") in pairs  # lazy, inside main()
    assert ("kshell.commands.history", "kshell.lang.registry") in pairs  # commands/ mapped
    hints = {(e.importer, e.imported) for e in EDGES if e.type_only}
    assert ("kshell.ui.runner", "kshell.lang.grammar") not in hints  # a plain import at the top
    assert ("kshell.ui.completer.prompt", "prompt_toolkit.completion") in pairs
    assert len(EDGES) > 1000


def test_the_reader_marks_type_only_imports(tmp_path):
    (tmp_path / "kshell").mkdir()
    (tmp_path / "kshell" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kshell.b import B\n"
    )
    (tmp_path / "kshell" / "b.py").write_text("def f():\n    from kshell import a\n")
    for folder in ("commands", "history"):
        (tmp_path / folder).mkdir()
    edges = {(e.importer, e.imported, e.type_only) for e in read_edges(tmp_path)}
    assert edges == {
        ("kshell.a", "typing", False),
        ("kshell.a", "kshell.b", True),
        ("kshell.b", "kshell.a", False),
    }


def test_every_module_has_a_layer():
    """A new top-level module or package is placed in LAYERS (or is the simulator)."""
    modules = {module_name(p, ROOT) for p in source_files(ROOT)}
    placed = [m for m in modules if m == ROOT_PACKAGE or within(m, (SIMULATOR,))]
    assert sorted(m for m in modules - set(placed) if layer_of(m) is None) == []


def test_no_module_imports_a_layer_above_its_own():
    """The one rule: commands, the store, the device layer... import only their own layer
    or lower ones, type-only imports included; the simulator only the codec and errors."""
    assert upward(EDGES) == []


def test_only_the_surfaces_draw():
    """prompt_toolkit and pygments are loaded by ui/ and app/ only."""
    assert draws_below_the_surfaces(EDGES) == []


def test_the_completion_engine_is_pure_all_the_way_down():
    """What the engine imports, and what those import in turn (lazily too), never loads
    prompt_toolkit or pygments: completion is computed, the prompt only shows it."""
    assert engine_draws(EDGES) == []


def test_there_is_no_import_cycle():
    """No strongly connected component in the module graph (type-only and lazy imports
    count): each module can be read knowing only what is below it. The simulator too."""
    assert cycles(EDGES) == []


def test_the_cycle_finder_finds_a_type_only_cycle(tmp_path):
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
    (tmp_path / "kshell" / "a.py").write_text("from kshell.b import x\n")
    (tmp_path / "kshell" / "b.py").write_text("if TYPE_CHECKING:\n    from kshell.c import C\n")
    (tmp_path / "kshell" / "c.py").write_text("def f():\n    import kshell.a\n")
    (tmp_path / "kshell" / "d.py").write_text("import kshell.a\n")
    assert cycles(read_edges(tmp_path)) == [["kshell.a", "kshell.b", "kshell.c"]]


def _tree_with(tmp_path: Path, path: str, line: str) -> list[Edge]:
    """The same reading over a copy of the tree with one line added to one file (inside a
    function when it is indented: a lazy import)."""
    for folder in PACKAGES:
        for source in (ROOT / folder).rglob("*.py"):
            copy = tmp_path / source.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    target = tmp_path / path
    if line.startswith(" "):
        line = f"def _sneaky():\n{line}\n"
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    return read_edges(tmp_path)


@pytest.mark.parametrize(
    ("path", "line", "rule"),
    [
        ("kshell/device/transports/xor.py", "from kshell.ui.runner import run_line", "layers"),
        ("kshell/work/watch/stats.py", "    from kshell.commands import power", "layers"),
        ("kshell/core/session.py", "if TYPE_CHECKING:\n    import kshell.app.cli", "layers"),
        ("commands/power.py", "from kshell.ui.output import Output", "layers"),
        ("kshell/errors.py", "from kshell.results import Result", "layers"),
        ("kshell/simulator/plug.py", "from kshell.device.device import Device", "layers"),
        ("kshell/store/config.py", "from kshell.simulator import plug", "layers"),
        ("commands/power.py", "import pygments", "drawing"),
        ("kshell/ui/completer/files.py", "    import prompt_toolkit", "engine"),
        ("kshell/lang/registry.py", "    import pygments.lexers", "engine"),
        ("kshell/errors.py", "    import kshell.results", "cycle"),
        ("kshell/simulator/faults.py", "    from kshell.simulator import plug", "cycle"),
    ],
)
def test_each_rule_fails_on_a_bad_import(tmp_path, path, line, rule):
    """Each rule can fail: the tree with one bad import added (at the top, lazily inside a
    function, or under TYPE_CHECKING) is caught by the rule it breaks."""
    if line.startswith("if TYPE_CHECKING"):
        line = "from typing import TYPE_CHECKING\n" + line
    edges = _tree_with(tmp_path, path, line)
    found = {
        "layers": upward,
        "drawing": draws_below_the_surfaces,
        "engine": engine_draws,
        "cycle": lambda edges: [" ".join(c) for c in cycles(edges)],
    }[rule](edges)
    module = module_name(tmp_path / path, tmp_path)
    assert any(path in f or module in f.split() for f in found), found
