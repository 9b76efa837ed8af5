"""Commands are plain async functions registered by a decorator, declared once.

The declaration (name, arguments, options, help, permission, confirmation) drives
dispatch, help, completion, mail permissions and confirmation alike. Modules are loaded
by path from ``commands/`` and from any user folder, so a checkout, an installed shell
and a user's drop-in folder all load the same way.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from kshell.device.capabilities import declaration
from kshell.errors import UsageError
from kshell.home import check_trusted, write_private

PERMISSIONS = ("read", "control", "admin")
MAIL_TIME_LIMIT = 60.0  # seconds: a command run for a mail must end (a reply is waiting)

# What an argument's value makes the command reach: an address or a network to probe, or a
# port. By mail, reaching what the device list does not know yet needs `control` (recon).
Reach = Literal["address", "network", "port"]


class ByMail(Enum):
    """Whether a command may run on behalf of a mail (declared on every command)."""

    YES = "yes"
    NO = "no"  # never by mail (it reads or writes files, or drives the shell itself)
    IF_ALLOW_RAW = "allow_raw"  # only with [remote] allow_raw = yes
    IF_ALLOW_FIRMWARE = "allow_firmware"  # only with [remote] allow_firmware = yes


@dataclass(frozen=True, slots=True)
class Arg:
    """A positional argument. ``kind`` tells completion what can go there."""

    name: str
    kind: str = "word"  # target | targets | word | int | float | json | image | file | choice
    help: str = ""
    optional: bool = False
    choices: tuple[str, ...] = ()
    reaches: Reach | None = None
    mail_pattern: str | None = None  # a `file` argument: the values mail may give (no files)
    # A target argument that only some plugs can take: completion offers only those, and
    # `all` skips the others. Each names a capability file (kshell.device.capabilities).
    needs: tuple[str, ...] = ()

    @property
    def variadic(self) -> bool:
        return self.kind == "targets"


@dataclass(frozen=True, slots=True)
class Opt:
    """An ``--option``: a flag when ``kind == 'flag'``, else it takes a value."""

    name: str
    kind: str = "flag"  # flag | int | float | str | file
    help: str = ""
    default: Any = None
    repeat: bool = False
    reaches: Reach | None = None

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


@dataclass
class Command:
    """A declared command: what dispatch, help, completion and the gate read."""

    name: str  # "on", or "emeter watch" for a subverb
    func: Callable[..., Any]
    help: str
    args: tuple[Arg, ...] = ()
    options: tuple[Opt, ...] = ()
    permission: str = "admin"
    confirm: bool | str = False  # True: the runner asks first; "inline": the command asks itself
    examples: tuple[str, ...] = ()
    module: str = ""
    long_running: bool = False  # streams or flows: the shell picks its faster event loop
    by_mail: ByMail | None = None  # None: undeclared, so never run by mail
    mail_time_limit: float = MAIL_TIME_LIMIT
    mail_permission: str | None = None  # needs more by mail than at the prompt (history)
    # it changes the plugs it names: each is checked to be the plug named before it acts
    # (kshell.core.identity); undeclared, any command beyond `read` permission does
    changes: bool = False

    @property
    def summary(self) -> str:
        """The first sentence of the help, whole (a docstring's wrapped line is no sentence)."""
        paragraph = " ".join(self.help.strip().split("\n\n")[0].split())
        end = paragraph.find(". ")
        return paragraph if end < 0 else paragraph[: end + 1]

    @property
    def all_options(self) -> tuple[Opt, ...]:
        extra = (Opt("--yes", help="do not ask for confirmation"),) if self.confirm else ()
        return self.options + extra

    def usage(self) -> str:
        parts = [self.name]
        for arg in self.args:
            shown = arg.name.upper() + (" ..." if arg.variadic else "")
            if arg.choices:
                shown = "|".join(arg.choices)
            parts.append(f"[{shown}]" if arg.optional else shown)
        for opt in self.all_options:
            parts.append(f"[{opt.name}{'' if opt.kind == 'flag' else ' ' + opt.dest.upper()}]")
        return " ".join(parts)

    def takes_target(self) -> bool:
        return bool(self.args) and self.args[0].kind in ("target", "targets")


class Registry:
    """Every command by name. Lazy when built with an index: a one-shot command imports only
    the module that declares its verb (start-up is a feature); anything that lists commands
    (help, completion, the prompt) loads them all."""

    def __init__(
        self, sources: list[tuple[Path, str]] | None = None, *, index: Path | None = None
    ) -> None:
        """``sources``: (folder, package name) pairs whose ``*.py`` declare commands, read
        lazily through ``index`` when one is given, at once otherwise."""
        self._commands: dict[str, Command] = {}
        self.load_errors: list[str] = []
        self._sources = list(sources or [])
        self._index_path = index
        self._loaded: set[Path] = set()
        self._all_loaded = not self._sources

    @property
    def commands(self) -> dict[str, Command]:
        self.load_all()
        return self._commands

    def add(self, cmd: Command) -> None:
        for arg in cmd.args:
            for need in arg.needs:
                declaration.declared(
                    need
                )  # a misspelt need fails here, not at the first completion
        self._commands[cmd.name] = cmd

    def verbs(self) -> list[str]:
        return sorted({name.split()[0] for name in self.commands})

    def subverbs(self, verb: str) -> list[str]:
        return sorted(n.split()[1] for n in self.commands if n.startswith(verb + " "))

    def lookup(self, words: list[str]) -> tuple[Command, list[str]]:
        """Longest match of verb [subverb]; returns the command and the remaining words."""
        if not words:
            raise UsageError("empty command")
        if not self._all_loaded:
            self._load_for(words[0])
        table = self._commands
        if len(words) > 1 and f"{words[0]} {words[1]}" in table:
            return table[f"{words[0]} {words[1]}"], words[2:]
        if words[0] in table:
            return table[words[0]], words[1:]
        subs = self.subverbs(words[0])
        if subs:
            raise UsageError(f"{words[0]}: expected one of {', '.join(subs)}")
        raise UsageError(f"unknown command '{words[0]}' (try: help)")

    # -- loading -----------------------------------------------------------------------
    def _files(self) -> list[tuple[Path, str]]:
        return [
            (path, package)
            for folder, package in self._sources
            for path in sorted(folder.glob("*.py"))
            if not path.name.startswith("_")
        ]

    def _load_file(self, path: Path, package: str) -> list[Command]:
        self._loaded.add(path)
        return load_file(self, path, package)

    def load_all(self) -> None:
        if self._all_loaded:
            return
        self._all_loaded = True
        index: dict[str, Any] = {}
        for path, package in self._files():
            if path in self._loaded:
                module = sys.modules.get(f"{package}.{path.stem}")
                cmds = declared(module) if module is not None else []
            else:
                cmds = self._load_file(path, package)
            index[str(path)] = {
                "stamp": _stamp(path),
                "verbs": sorted({c.name.split()[0] for c in cmds}),
            }
        self._save_index(index)

    def _load_for(self, verb: str) -> None:
        """Import just the module(s) the index says declare ``verb``; all when unsure."""
        index = self._read_index()
        files = self._files()
        if (
            index is None
            or set(index) != {str(p) for p, _ in files}
            or any(index[str(p)].get("stamp") != _stamp(p) for p, _ in files)
        ):
            self.load_all()
            return
        owners = [(p, pkg) for p, pkg in files if verb in index[str(p)].get("verbs", [])]
        if not owners:
            self.load_all()  # an unknown verb: the error lists what exists
            return
        for path, package in owners:
            if path not in self._loaded:
                self._load_file(path, package)

    def _read_index(self) -> dict[str, Any] | None:
        if self._index_path is None:
            return None
        try:
            data = json.loads(self._index_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _save_index(self, index: dict[str, Any]) -> None:
        if self._index_path is None:
            return
        try:
            write_private(self._index_path, json.dumps(index), sync=False)
        except OSError:
            pass  # a read-only home only costs start-up time


def _stamp(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [0, 0]
    return [st.st_mtime_ns, st.st_size]


# A decorated function carries its declarations under this attribute; a loader reads them
# from the module it imported (no list shared between imports).
DECLARED = "__kshell_commands__"


def declared(module: object) -> list[Command]:
    """The commands a module's functions declare, in the order they were defined."""
    found: list[Command] = []
    name = getattr(module, "__name__", None)
    for value in list(vars(module).values()):
        for cmd in getattr(value, DECLARED, ()) if callable(value) else ():
            if isinstance(cmd, Command) and cmd.module == name and cmd not in found:
                found.append(cmd)
    return found


def command(
    name: str,
    *,
    args: tuple[Arg, ...] = (),
    options: tuple[Opt, ...] = (),
    permission: str = "admin",
    confirm: bool | str = False,
    examples: tuple[str, ...] = (),
    long_running: bool = False,
    by_mail: ByMail | None = None,
    mail_time_limit: float = MAIL_TIME_LIMIT,
    mail_permission: str | None = None,
    changes: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a command. The docstring is its help; an undeclared permission is admin, and
    an undeclared ``by_mail`` means the command never runs for a mail."""
    if permission not in PERMISSIONS or mail_permission not in (None, *PERMISSIONS):
        raise ValueError(f"permission must be one of {PERMISSIONS}")
    if by_mail is not None and not isinstance(by_mail, ByMail):
        raise ValueError("by_mail must be a ByMail value")
    if not 0 < mail_time_limit <= 3600:
        raise ValueError("mail_time_limit must be between 0 and 3600 seconds")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            func,
            DECLARED,
            [
                *getattr(func, DECLARED, ()),
                Command(
                    name=name,
                    func=func,
                    help=inspect.cleandoc(func.__doc__ or ""),
                    args=args,
                    options=options,
                    permission=permission,
                    confirm=confirm,
                    examples=examples,
                    module=func.__module__,
                    long_running=long_running,
                    by_mail=by_mail,
                    mail_time_limit=mail_time_limit,
                    mail_permission=mail_permission,
                    changes=permission != "read" if changes is None else changes,
                ),
            ],
        )
        return func

    return register


def builtin_folder() -> Path:
    """``commands/``: inside the installed package, or beside ``kshell/`` in a checkout."""
    here = Path(__file__).resolve().parents[1]  # the kshell package (this file is in lang/)
    installed = here / "commands"
    return installed if installed.is_dir() else here.parent / "commands"


def load_file(registry: Registry, path: Path, package: str) -> list[Command]:
    """Import one command module by path; a module that fails is reported, not fatal."""
    name = f"{package}.{path.stem}"
    try:
        module = sys.modules.get(name)
        if module is None or getattr(module, "__file__", None) != str(path):
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError("not a loadable module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        cmds = declared(module)
        for cmd in cmds:
            registry.add(cmd)
        return cmds
    except Exception as exc:  # noqa: BLE001 - a broken user module must not stop the shell
        sys.modules.pop(name, None)
        registry.load_errors.append(f"{path}: {type(exc).__name__}: {exc}")
        return []


def load_folder(registry: Registry, folder: Path, package: str) -> None:
    """Import every ``*.py`` in ``folder`` (names starting with ``_`` are skipped)."""
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            load_file(registry, path, package)


def _check_folder(folder: Path) -> None:
    """A user's command folder runs as us: refused, with its modules, when another user
    owns it or others may write it (they could plant or rewrite a module)."""
    fix = f"chown it to you and chmod go-w {folder} (and its modules)"
    check_trusted(folder, "command folder", fix)
    for path in folder.glob("*.py"):
        check_trusted(path, "command module", f"chown it to you and chmod go-w {path}")


def build_registry(
    extra_folders: list[Path] | None = None, *, index: Path | None = None
) -> Registry:
    """The built-in commands plus the user's folders. With ``index`` (a file in the state
    folder), modules are imported only when a command needs them."""
    sources = [(builtin_folder(), "kshell.commands")]
    missing = []
    for folder in extra_folders or []:
        if folder.is_dir():
            _check_folder(folder)
            sources.append((folder, f"kshell_user_{abs(hash(str(folder.resolve())))}"))
        else:
            missing.append(f"{folder}: command folder not found")
    registry = Registry(sources, index=index)
    registry.load_errors += missing
    if index is None:
        registry.load_all()
    return registry
