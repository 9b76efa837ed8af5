"""No module holds state: what a session or a line needs lives in typed fields (Session,
Invocation), never in module globals or a string-keyed bag. Read from the source with ``ast``.

A module may hold constants (tables, compiled patterns) and memos of pure functions; what it
may not do is change a module-level name from a function: a ``global`` statement, or a
module-level dict, list or set written to (``d[k] = v``, ``.append``, ``.update``, ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("kshell", "commands", "history")
MUTATORS = {
    "append",
    "extend",
    "insert",
    "update",
    "add",
    "discard",
    "remove",
    "pop",
    "popitem",
    "clear",
    "setdefault",
}


def module_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def state_changes(source: str, where: str) -> list[str]:
    tree = ast.parse(source)
    shared = module_level_names(tree)
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        local = {a.arg for a in func.args.args + func.args.kwonlyargs}
        local |= {  # a name the function binds itself is its own, not the module's
            n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        for node in ast.walk(func):
            line = f"{where}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Global):
                found.append(f"{line}: global {', '.join(node.names)}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in shared - local
                and node.func.attr in MUTATORS
            ):
                found.append(f"{line}: {node.func.value.id}.{node.func.attr}(...)")
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = (
                    node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                )
                for t in targets:
                    if (
                        isinstance(t, ast.Subscript)
                        and isinstance(t.value, ast.Name)
                        and t.value.id in shared - local
                    ):
                        found.append(f"{line}: {t.value.id}[...] written")
    return found


def test_no_module_changes_module_level_state():
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += state_changes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_no_string_keyed_bag_on_the_session():
    """``Context.extras`` is gone and stays gone: no ``.extras`` anywhere in the product."""
    hits = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "extras"
    ]
    assert hits == []


@pytest.mark.parametrize(
    "source",
    [
        "_PENDING = {}\ndef remember(k, v):\n    _PENDING[k] = v\n",
        "_SEEN = []\nasync def note(x):\n    _SEEN.append(x)\n",
        "_second = 0\ndef tick():\n    global _second\n    _second += 1\n",
    ],
)
def test_the_check_catches_module_state(source):
    """It can fail: the patterns the issue found (``_PENDING``, ``_second``) are caught."""
    assert state_changes(source, "example.py")


def test_the_check_leaves_locals_and_constants_alone():
    source = (
        "TABLE = {'a': 1}\n"
        "def read(TABLE):\n    TABLE['a'] = 2\n"  # a parameter that shadows the name
        "def build():\n    TABLE = {}\n    TABLE.update(a=1)\n    return TABLE\n"
        "def look():\n    return TABLE['a']\n"
    )
    assert state_changes(source, "example.py") == []
