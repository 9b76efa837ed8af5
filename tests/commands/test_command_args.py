"""Every ``args.X`` a command reads is a name its declaration binds.

A command gets its line's words as ``Args`` (kshell/lang/args.py), whose attributes are its
declared ``Arg`` names and ``Opt`` destinations. A misspelt read would only fail when that
line runs; this test reads each command module's source with ``ast`` and finds it first:
every ``args.X`` and ``getattr(args, "X")`` in a command function, in the functions nested
in it, and in the module's own helpers it hands ``args`` to, against what that command
declares (the declarations come from loading the module, as the shell does).
"""

from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.binding import parse_args as parse
from kshell.lang.registry import Command, Registry, build_registry, builtin_folder, load_file

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Read:
    """One read of a name from a command's ``args``, where it is in the source."""

    command: str
    name: str
    path: Path
    function: str  # the function whose source holds the read (the command's or a helper)
    line: int
    end_col: int  # where the name ends on that line (the read's last character + 1)


def load_commands(folder: Path, package: str) -> list[Command]:
    """The commands every module in ``folder`` declares, loaded as the shell loads them."""
    registry = Registry()
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            load_file(registry, path, package)
    assert not registry.load_errors, registry.load_errors
    return list(registry.commands.values())


def declared_names(cmd: Command) -> set[str]:
    return {arg.name for arg in cmd.args} | {opt.dest for opt in cmd.all_options}


def _module_path(cmd: Command) -> Path:
    return Path(cmd.func.__code__.co_filename)


def _functions(tree: ast.Module) -> dict[str, FunctionNode]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _params(func: FunctionNode) -> list[str]:
    return [a.arg for a in (*func.args.posonlyargs, *func.args.args)]


def reads(cmd: Command) -> list[Read]:
    """Every read of ``cmd``'s args: in its function and in the module's helpers it passes
    ``args`` to (by position or keyword), followed as far as they pass it on."""
    path = _module_path(cmd)
    functions = _functions(ast.parse(path.read_text(encoding="utf-8")))
    found: list[Read] = []
    seen: set[tuple[str, str]] = set()

    def walk(func: FunctionNode, param: str) -> None:
        if (func.name, param) in seen:
            return
        seen.add((func.name, param))
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == param
            ):
                found.append(
                    Read(
                        cmd.name,
                        node.attr,
                        path,
                        func.name,
                        node.end_lineno or 0,
                        node.end_col_offset or 0,
                    )
                )
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                _call(node, param)

    def _call(node: ast.Call, param: str) -> None:
        assert isinstance(node.func, ast.Name)
        passed = [isinstance(value, ast.Name) and value.id == param for value in node.args]
        if node.func.id == "getattr" and len(node.args) >= 2 and passed[0]:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                end = (name.end_col_offset or 0) - 1  # inside the closing quote
                found.append(Read(cmd.name, name.value, path, "getattr", name.end_lineno or 0, end))
            return
        helper = functions.get(node.func.id)
        if helper is None:
            return
        params = _params(helper)
        for index, is_args in enumerate(passed):
            if is_args and index < len(params):
                walk(helper, params[index])
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg and isinstance(value, ast.Name) and value.id == param:
                walk(helper, keyword.arg)

    command_function = functions[cmd.func.__name__]
    params = _params(command_function)
    assert len(params) >= 2, f"{cmd.name}: a command takes (session, args)"
    walk(command_function, params[1])
    return found


def undeclared(commands: list[Command]) -> list[str]:
    """``FILE:LINE: command 'X' reads args.Y`` for each read its declaration does not bind."""
    return [
        f"{read.path.name}:{read.line}: command '{cmd.name}' reads args.{read.name}, which it"
        f" does not declare ({', '.join(sorted(declared_names(cmd))) or 'nothing'})"
        for cmd in commands
        for read in reads(cmd)
        if read.name not in declared_names(cmd)
    ]


BUILTIN = load_commands(builtin_folder(), "kshell.commands")


def test_the_builtin_commands_are_all_found():
    """The check reads every command the shell has, none missed."""
    assert {cmd.name for cmd in BUILTIN} == set(build_registry().commands)
    assert {"on", "emeter watch", "schedule add"} <= {cmd.name for cmd in BUILTIN}


def test_every_command_reads_only_what_it_declares():
    assert undeclared(BUILTIN) == []


def test_commands_annotate_args_as_args():
    """The type checker sees ``Args``, not ``Any``, in every command's signature."""
    untyped = [
        cmd.name for cmd in BUILTIN if cmd.func.__annotations__.get("args") not in ("Args", Args)
    ]
    assert untyped == []


def _bound(cmd: Command) -> Args | None:
    """The command bound to a word per required argument; None when a word does not fit."""
    words = [arg.choices[0] if arg.choices else "1" for arg in cmd.args if not arg.optional]
    try:
        return parse(cmd, words)
    except UsageError:
        return None


def test_the_binder_gives_exactly_the_declared_names():
    """What a command may read is what the binder sets: every declared name, and no other."""
    bound = {cmd.name: _bound(cmd) for cmd in BUILTIN}
    assert sum(1 for value in bound.values() if value is not None) > 50
    for cmd in BUILTIN:
        if (args := bound[cmd.name]) is not None:
            assert set(args.names()) == declared_names(cmd), cmd.name


def test_a_misspelt_read_is_an_error_that_names_the_declared_ones():
    bound = Args({"targets": ["Kitchen"], "yes": False})
    assert bound.targets == ["Kitchen"]
    with pytest.raises(AttributeError, match="declared: targets, yes"):
        _ = bound.target
    assert getattr(bound, "target", None) is None
    with pytest.raises(AttributeError):
        bound.targets = []  # type: ignore[misc]


# -- the check can fail: each module copied with one bad read put in -----------------------
MODULES = sorted(path.name for path in builtin_folder().glob("[!_]*.py"))


def _typo(name: str, declared: set[str]) -> str:
    dropped = name[:-1]
    return dropped if len(dropped) > 1 and dropped not in declared else name + "s_"


def _copy_with(tmp_path: Path, module: str, edit) -> list[Command]:
    folder = tmp_path / "commands"
    shutil.copytree(builtin_folder(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = folder / module
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    edit(lines)
    path.write_text("".join(lines), encoding="utf-8")
    package = f"kshell_args_copy_{tmp_path.name.replace('-', '_')}"
    try:
        return load_commands(folder, package)
    finally:
        for name in [n for n in sys.modules if n.startswith(package)]:
            del sys.modules[name]


def _first_read(module: str, where: str = "") -> tuple[Command, Read]:
    for cmd in BUILTIN:
        if _module_path(cmd).name != module:
            continue
        for read in reads(cmd):
            if read.function != "getattr" and (not where or read.function == where):
                return cmd, read
    raise AssertionError(f"{module}: no command reads its args{' in ' + where if where else ''}")


def _misspell(read: Read, typo: str):
    def edit(lines: list[str]) -> None:
        text = lines[read.line - 1]
        start = read.end_col - len(read.name)
        assert text[start : read.end_col] == read.name
        lines[read.line - 1] = text[:start] + typo + text[read.end_col :]

    return edit


@pytest.mark.parametrize("module", MODULES)
def test_the_check_fails_on_a_misspelt_read(tmp_path, module):
    """In each command module, the first ``args.X`` its commands read, misspelt in a copy,
    is caught, with the command and the line."""
    cmd, read = _first_read(module)
    typo = _typo(read.name, declared_names(cmd))
    problems = undeclared(_copy_with(tmp_path, module, _misspell(read, typo)))
    assert any(f"{module}:{read.line}:" in p and f"reads args.{typo}," in p for p in problems), (
        problems
    )


def test_the_check_fails_on_a_misspelt_read_in_a_helper(tmp_path):
    """A read in a helper the command hands ``args`` to counts as the command's."""
    cmd, read = _first_read("schedule.py", where="_enable")
    typo = _typo(read.name, declared_names(cmd))
    problems = undeclared(_copy_with(tmp_path, "schedule.py", _misspell(read, typo)))
    assert any(f"reads args.{typo}," in p for p in problems), problems


def test_the_check_fails_on_an_undeclared_getattr(tmp_path):
    def edit(lines: list[str]) -> None:
        at = next(i for i, line in enumerate(lines) if line.startswith("async def on("))
        lines.insert(at + 2, '    getattr(args, "colour")\n')  # after the docstring line

    problems = undeclared(_copy_with(tmp_path, "power.py", edit))
    assert any("command 'on' reads args.colour," in p for p in problems), problems
