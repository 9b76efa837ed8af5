"""Config defaults live once, in the packaged default config: no reader carries its own
default (no ``fallback=``, no default argument), and every key a module reads is there."""

from __future__ import annotations

import ast
import configparser
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import ROOT

from kshell.store.config import Config, load_config, number, packaged_defaults, text

SOURCES = ("kshell", "commands", "history")
GETTERS = {"text", "number", "integer", "port", "flag", "get_list"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _getter_names(path: Path, tree: ast.Module) -> dict[str, str]:
    """The local names of the config getters in a module (``port as config_port`` too)."""
    if path == ROOT / "kshell" / "store" / "config.py":
        return {name: name for name in GETTERS}
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "kshell.store.config":
            for alias in node.names:
                if alias.name in GETTERS:
                    names[alias.asname or alias.name] = alias.name
    return names


def _getter_calls() -> Iterator[tuple[str, str, ast.Call]]:
    for path, tree in _modules():
        names = _getter_names(path, tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in names
            ):
                yield f"{path.relative_to(ROOT)}:{node.lineno}", names[node.func.id], node


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_no_reader_carries_its_own_default() -> None:
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and any(k.arg == "fallback" for k in node.keywords):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} fallback=")
    for where, getter, call in _getter_calls():
        if any(k.arg in ("default", "fallback") for k in call.keywords):
            found.append(f"{where} {getter}(..., default=)")
        extra = call.args[3:]  # parser, section, key; number/integer may add the Bounds
        if getter not in ("number", "integer") and extra:
            found.append(f"{where} {getter}() with a fourth argument")
        if any(isinstance(a, ast.Constant) for a in extra):
            found.append(f"{where} {getter}() with a literal default")
    assert found == []


def _keys_read() -> Iterator[tuple[str, str, str]]:
    """(where, section, key) for each read whose section and key are written out, directly
    or through a local wrapper (``def number(key): return checked(config, "remote", key)``)."""
    for path, tree in _modules():
        names = _getter_names(path, tree)
        wrappers: dict[str, tuple[str, int]] = {}  # name -> (section, which parameter is key)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for call in ast.walk(fn):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id in names
                    and len(call.args) >= 3
                    and (section := _constant(call.args[1])) is not None
                    and isinstance(call.args[2], ast.Name)
                    and call.args[2].id in params
                ):
                    wrappers[fn.name] = (section, params.index(call.args[2].id))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
                continue
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            if call.func.id in names and len(call.args) >= 3:
                section, key = _constant(call.args[1]), _constant(call.args[2])
                if section is not None and key is not None:
                    yield where, section, key
            elif call.func.id in wrappers:
                section, index = wrappers[call.func.id]
                if index < len(call.args) and (key := _constant(call.args[index])) is not None:
                    yield where, section, key


def test_every_key_any_module_reads_is_in_the_packaged_defaults() -> None:
    read = list(_keys_read())
    assert len(read) > 20  # the scan sees the readers (a scan that finds nothing proves nothing)
    defaults = packaged_defaults()
    assert [r for r in read if not defaults.has_option(r[1], r[2])] == []


def test_a_key_the_packaged_defaults_lack_is_a_programming_error() -> None:
    with pytest.raises(configparser.NoOptionError):
        text(Config(), "shell", "no_such_key")


def test_the_packaged_defaults_lie_under_the_users_file(tmp_path: Path) -> None:
    path = tmp_path / "kshell.ini"
    path.write_text("[shell]\ntimeout = 7\n[remote]\nmarker =\n", encoding="utf-8")
    path.chmod(0o600)
    config = load_config(path)
    assert number(config, "shell", "timeout") == 7  # the user's value
    assert number(config, "discovery", "timeout") == 3  # the packaged default under it
    assert text(config, "remote", "marker") == "!"  # left empty: the default again


def test_the_first_run_is_known_so_the_prompt_can_say_where_things_live(tmp_path) -> None:
    from kshell.store.config import load_config

    path = tmp_path / "conf" / "kshell.ini"
    first = load_config(path)
    assert getattr(first, "first_written", False) is True and path.exists()
    again = load_config(path)
    assert getattr(again, "first_written", False) is False
