"""The layering docs/architecture.md tells, checked on the source: no step reaches back up.

Every ``import`` in kshell/, commands/ and history/ is read with ``ast`` (lazy imports inside
functions and ``TYPE_CHECKING`` imports included: a type-only edge is still an edge a reader
follows), and each rule below names who may not import whom. The rules are about the tree as
it stands, so a new upward import fails here with the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> the package it installs as (setup.cfg's package_dir)
PACKAGES = {"kshell": "kshell", "commands": "kshell.commands", "history": "kshell.history"}


@dataclass(frozen=True)
class Edge:
    importer: str  # dotted module name
    imported: str  # dotted module name (for ``from m import n``: m, or m.n when a module)
    where: str  # path:line
    type_only: bool = False  # under ``if TYPE_CHECKING:``: never runs, names a type


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    rest = parts[1:-1] if parts[-1] == "__init__" else parts[1:]
    return ".".join((PACKAGES[parts[0]], *rest))


def read_edges(root: Path = ROOT) -> list[Edge]:
    files = [p for folder in PACKAGES for p in sorted((root / folder).rglob("*.py"))]
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


EDGES = read_edges()

# The sources of lines and the surfaces that draw: the only modules that may call the runner,
# hold the prompt or pick a view. Everything under them is reached, never reaches back.
TOP = (
    "kshell.app.cli",
    "kshell.app.build",
    "kshell.app.demo",
    "kshell.app.repl",
    "kshell.app.repl.lexer",
    "kshell.ui.runner",
    "kshell.ui.views",
    "kshell.app.remote.service",  # mail: the service and its processor feed lines to the runner
    "kshell.app.remote.processor",
    "kshell.history.replay",  # a script's lines, run as typed ones
)
# Two commands start or run a source of lines, as a shell's `source` does: `replay` runs a
# file's lines (nested, one level), `remote on|status|test` start or ask the mail service.
# Named here so that no other command can join them unseen (docs/architecture.md, "Known edges").
STARTS_A_SOURCE = {
    ("kshell.commands.history", "kshell.history.replay"),
    ("kshell.commands.remote", "kshell.app.remote.service"),
}
DRAWING = ("prompt_toolkit", "pygments")
PROMPT_ADAPTER = "kshell.ui.completer.prompt"
# what is below a command: the wire and the device, and the leaf modules they read
DEVICE_MAY_IMPORT = (
    "kshell.device",
    "kshell.errors",
    "kshell.device.codec",
    "kshell.device.meter_rules",
)
LONG_WORK = (
    "kshell.work.watch",
    "kshell.work.firmware.flash",
    "kshell.fanin",
    "kshell.events",
    "kshell.work.ping",
    "kshell.work.firmware.staging",
)
# the simulator mirrors the client and shares no code with it, except the XOR codec and the
# firmware's zone table (facts, not behaviour); pinned here so the list cannot grow unseen
SIMULATOR_MAY_IMPORT = (
    "kshell.simulator",
    "kshell.errors",
    "kshell.device.codec",
    "kshell.device.capabilities.iot_zones",
)


def violations(
    edges: list[Edge], subjects: tuple[str, ...], forbidden: tuple[str, ...]
) -> list[str]:
    return [
        f"{e.where}: {e.importer} imports {e.imported}"
        for e in edges
        if within(e.importer, subjects) and within(e.imported, forbidden)
    ]


def outside(edges: list[Edge], subjects: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{e.where}: {e.importer} imports {e.imported}"
        for e in edges
        if within(e.importer, subjects)
        and within(e.imported, ("kshell",))
        and not within(e.imported, allowed)
    ]


def below_top(edges: list[Edge]) -> list[str]:
    out = []
    for e in edges:
        # the completer's prompt_toolkit adapter may draw on prompt_toolkit, nothing more
        forbidden = TOP if e.importer == PROMPT_ADAPTER else TOP + DRAWING
        if e.type_only or (e.importer, e.imported) in STARTS_A_SOURCE:
            continue
        if not within(e.importer, TOP) and within(e.imported, forbidden):
            out.append(f"{e.where}: {e.importer} imports {e.imported}")
    return out


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
                seen[e.imported] = f"{e.where}: {e.importer} imports {e.imported}"
                todo.append(e.imported)
    return seen


def test_the_reader_sees_the_imports_it_must_judge():
    """The rules below are only as good as the edges: spot-check that lazy, relative-free,
    TYPE_CHECKING and ``from package import module`` imports are all read."""
    pairs = {(e.importer, e.imported) for e in EDGES}
    assert ("kshell.ui.runner", "kshell.ui.views") in pairs  # from kshell.ui.views import ...
    assert ("kshell.app.cli", "kshell.app.repl") in pairs  # lazy, inside main()
    assert ("kshell.core.session", "kshell.app.remote.service") in pairs  # under TYPE_CHECKING
    assert ("kshell.commands.remote", "kshell.app.remote.service") in pairs  # commands/ mapped
    hints = {(e.importer, e.imported) for e in EDGES if e.type_only}
    assert ("kshell.core.session", "kshell.app.remote.service") in hints
    assert ("kshell.ui.runner", "kshell.lang.grammar") not in hints  # a plain import at the top
    assert ("kshell.ui.completer.prompt", "prompt_toolkit.completion") in pairs
    assert len(EDGES) > 1000


def test_the_device_layer_reaches_nothing_above_it():
    """Transports, protocols, the Device and its modules know no command, session, store,
    output or surface: only each other and the leaf modules they read."""
    assert outside(EDGES, ("kshell.device",), DEVICE_MAY_IMPORT) == []
    assert violations(EDGES, ("kshell.device",), DRAWING) == []


def test_long_work_neither_draws_nor_asks():
    """A watch or a flash yields events: it imports no view, runner, prompt or mail."""
    forbidden = TOP + DRAWING + ("kshell.commands", "kshell.ui.completer")
    assert violations(EDGES, LONG_WORK, forbidden) == []


def test_nothing_below_the_sources_of_lines_reaches_up_to_them():
    """Only the sources of lines (the prompt, -c and scripts, replay, mail) and the views
    import the runner, the REPL, a view or prompt_toolkit; commands, the store, the targets,
    the output layer and the completer's engine never do. A type-only import (a Session
    field typed as the mail service) is not a step and is not counted."""
    assert below_top(EDGES) == []


def test_the_completion_engine_is_pure_all_the_way_down():
    """What the engine imports, and what those import in turn (lazily too), never loads
    prompt_toolkit, pygments, the REPL, the runner or a view."""
    reached = closure(EDGES, "kshell.ui.completer.engine")
    bad = [how for module, how in reached.items() if within(module, TOP + DRAWING)]
    assert bad == []


def test_the_output_layer_renders_and_knows_no_device():
    """``output`` turns results into text: it imports no device, store, session or command."""
    allowed = ("kshell.errors", "kshell.results", "kshell.events", "kshell.ui.pager", "kshell.text")
    assert outside(EDGES, ("kshell.ui.output",), allowed) == []


# Who may import the output layer: the sources of lines and the views (they hold an Output),
# the mail audit log and the watch's file sinks (each writes JSON lines of its own). Below
# them, text is made safe with ``kshell.text`` and returned, never written.
WRITERS = TOP + ("kshell.app.remote.audit", "kshell.work.watch.sinks")


def test_only_the_surfaces_import_the_output_layer():
    """Commands, the resolver, the completer, the metrics and the device layer return data:
    none of them imports ``kshell.ui.output``."""
    assert [
        f"{e.where}: {e.importer} imports {e.imported}"
        for e in EDGES
        if within(e.imported, ("kshell.ui.output",))
        and not within(e.importer, WRITERS + ("kshell.ui.output",))
    ] == []


def test_the_simulator_shares_no_client_code_beyond_the_codec():
    assert outside(EDGES, ("kshell.simulator",), SIMULATOR_MAY_IMPORT) == []


@pytest.mark.parametrize(
    ("path", "line", "rule"),
    [
        ("kshell/device/transports/xor.py", "from kshell.ui.runner import run_line", "device"),
        ("kshell/work/watch/stats.py", "from kshell.ui.views import show", "long work"),
        ("kshell/core/targets.py", "from kshell.app.repl import run_prompt", "below top"),
        ("kshell/ui/completer/files.py", "import prompt_toolkit", "engine"),
        ("kshell/lang/registry.py", "    from kshell.ui.runner import run_line", "engine"),
    ],
)
def test_each_rule_fails_on_an_upward_import(tmp_path, path, line, rule):
    """Each rule can fail: the same reading over a copy of the tree with one upward import
    added (at the top, or lazily inside a function) is caught by the rule it breaks."""
    for folder in PACKAGES:
        for source in (ROOT / folder).rglob("*.py"):
            copy = tmp_path / source.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    target = tmp_path / path
    if line.startswith(" "):
        line = f"def _sneaky():\n{line}\n"
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    edges = read_edges(tmp_path)
    found = {
        "device": outside(edges, ("kshell.device",), DEVICE_MAY_IMPORT),
        "long work": violations(edges, LONG_WORK, TOP + DRAWING),
        "below top": below_top(edges),
        "engine": [
            how
            for module, how in closure(edges, "kshell.ui.completer.engine").items()
            if within(module, TOP + DRAWING)
        ],
    }[rule]
    assert found and path in found[0], found
