"""What can come next at the cursor: the pure half of completion (no terminal needed).

Everything is derived from the command registry (each Arg's ``kind``) and the device
index, so completion, highlighting and ``?`` help read the same declarations that
dispatch does. ``bind`` decides the role of each word already typed and what slot comes
next; ``suggest`` turns a slot into ranked suggestions; ``analyse`` gives the lexer a
role per word; ``describe`` is the text behind a trailing ``?``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kshell.cache import DeviceRecord
from kshell.completer.targets import Candidate, TargetIndex, quote_word
from kshell.grammar import COMMENT, WORD, Token, current_command, group_commands, scan
from kshell.registry import Arg, Command, Opt, Registry

T = TypeVar("T")
MAX_FILES = 200
# Words a target argument accepts besides plugs, per command ("use none" clears the target).
EXTRA_KEYWORDS: dict[str, tuple[str, ...]] = {"use": ("none",)}
TARGET_KINDS = ("target", "targets")


@dataclass(frozen=True)
class Slot:
    """What may stand at the next position: a verb, a subverb, an argument or an option value."""

    kind: str  # verb | subverb | arg | option_value | none
    verb: str = ""
    arg: Arg | None = None
    opt: Opt | None = None
    after: str = ""  # the previous positional word (help VERB SUBVERB)


@dataclass
class Binding:
    command: Command | None
    roles: list[str]  # one per word
    slots: list[Slot] = field(default_factory=list)
    used_options: set[str] = field(default_factory=set)
    positional: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Suggestion:
    text: str  # inserted in place of the word being typed (quoted when needed)
    display: str
    meta: str
    kind: str  # verb | subverb | option | alias | outlet | host | mac | keyword | choice | file


@dataclass
class Completions:
    start: int  # where the replaced word begins in the text
    items: list[Suggestion]


class Model:
    """The in-memory data completion and highlighting read: registry, devices, folders."""

    def __init__(
        self,
        registry: Registry,
        records: Callable[[], list[DeviceRecord]],
        *,
        current: Callable[[], str | None] = lambda: None,
        firmware_dir: Callable[[], Path | None] = lambda: None,
        cwd: Callable[[], Path] = Path.cwd,
        fingerprint: Callable[[], object] | None = None,
        max_age: float = 0.5,
    ) -> None:
        self.registry = registry
        self._records = records
        self.current = current
        self.firmware_dir = firmware_dir
        self.cwd = cwd
        # Background work (discovery, remote mode) changes the cache between keystrokes: at
        # most every max_age seconds a cheap fingerprint says whether to rebuild the index.
        self.fingerprint = fingerprint
        self.max_age = max_age
        self._index: TargetIndex | None = None
        self._built = 0.0
        self._print: object = None
        self.verbs = registry.verbs()
        self.verb_meta = {v: _verb_meta(registry, v) for v in self.verbs}

    @classmethod
    def from_context(cls, ctx: object) -> Model:
        from kshell.context import Context

        assert isinstance(ctx, Context)
        return cls(
            ctx.registry,
            ctx.cache.all,
            current=lambda: ctx.current,
            firmware_dir=lambda: firmware_library(ctx),
            fingerprint=lambda: cache_fingerprint(ctx.cache),
        )

    def index(self) -> TargetIndex:
        now = time.monotonic()
        if self._index is not None and now - self._built <= self.max_age:
            return self._index
        self._built = now
        if self._index is not None and self.fingerprint is not None:
            print_now = self.fingerprint()
            if print_now == self._print:
                return self._index
            self._print = print_now
        elif self.fingerprint is not None:
            self._print = self.fingerprint()
        self._index = TargetIndex.build(self._records())
        return self._index

    def invalidate(self) -> None:
        self._index = None


def cache_fingerprint(cache: object) -> int:
    """Changes whenever a record is added, replaced (merge makes a new one) or marked."""
    records = getattr(cache, "records", {})
    return hash(tuple((id(r), r.online, r.state) for r in records.values()))


def firmware_library(ctx: object) -> Path | None:
    """The firmware image folder, found the way the firmware commands find it."""
    from kshell.context import Context

    assert isinstance(ctx, Context)
    try:
        from kshell.fwlibrary import library_folder
    except ImportError:
        return ctx.paths.data / "firmware"
    return library_folder(ctx.config, ctx.paths.data)


def _verb_meta(registry: Registry, verb: str) -> str:
    cmd = registry.commands.get(verb)
    subs = registry.subverbs(verb)
    if cmd is not None:
        return cmd.summary + (f" (also: {', '.join(subs)})" if subs else "")
    return "subcommands: " + ", ".join(subs)


# --- binding words to a command's declaration ---------------------------------------------


def bind(model: Model, words: list[str], *, final: bool) -> Binding:
    """Roles of ``words`` (one command) and the slots that may come after them.

    ``final`` means the words are the whole command (highlighting a line): then the
    ``use TARGET`` rule is applied exactly as the dispatcher applies it, by counting.
    """
    reg = model.registry
    if not words:
        return Binding(None, [], [Slot("verb")])
    verb = words[0]
    roles = ["verb" if verb in model.verb_meta else "bad_verb"]
    if roles[0] == "bad_verb":
        return Binding(None, roles + ["word"] * (len(words) - 1))
    cmd: Command | None = None
    used = 1
    if len(words) > 1 and f"{verb} {words[1]}" in reg.commands:
        cmd, used = reg.commands[f"{verb} {words[1]}"], 2
        roles.append("subverb")
    elif verb in reg.commands:
        cmd = reg.commands[verb]
    if cmd is None:
        if len(words) == 1:
            return Binding(None, roles, [Slot("subverb", verb=verb)])
        return Binding(None, roles + ["bad_subverb"] + ["word"] * (len(words) - 2))
    binding = Binding(cmd, roles)
    if len(words) == 1 and reg.subverbs(verb):
        binding.slots.append(Slot("subverb", verb=verb))
    _bind_rest(model, cmd, words[used:], binding, final)
    return binding


def _bind_rest(model: Model, cmd: Command, words: list[str], b: Binding, final: bool) -> None:
    opts = {o.name: o for o in cmd.all_options}
    positional_at: list[int] = []  # index into b.roles of each positional word
    pending: Opt | None = None
    for word in words:
        if pending is not None:
            b.roles.append(_value_role(pending.kind, word))
            pending = None
        elif word.startswith("--") and len(word) > 2:
            key, eq, _ = word.partition("=")
            opt = opts.get(key)
            b.roles.append("option" if opt else "bad_option")
            if opt is not None:
                b.used_options.add(opt.name)
                if opt.kind != "flag" and not eq:
                    pending = opt
        else:
            positional_at.append(len(b.roles))
            b.roles.append("word")
            b.positional.append(word)
    if pending is not None:
        b.slots.append(Slot("option_value", opt=pending))
        return
    args = cmd.args
    count = len(b.positional)
    offset = 0
    if final and _may_use_current(model, cmd) and count < _min_needed(args):
        offset = 1
    for index, role_at in enumerate(positional_at):
        arg = _arg_at(args, index + offset, count + offset if final else None)
        b.roles[role_at] = _arg_role(model, cmd, arg, b.positional[index])
    if final:
        return
    after = b.positional[-1] if b.positional else ""
    slots = [_arg_at(args, count, None)]
    if slots[0] is not None and slots[0].variadic:
        at = args.index(slots[0])
        if count > at and at + 1 < len(args):  # it has a word: what follows it may come now
            slots.append(args[at + 1])
    if _may_use_current(model, cmd) and count < _min_needed(args):
        slots.append(_arg_at(args, count + 1, None))  # the target may be left out
    for arg in slots:
        if arg is not None:
            b.slots.append(Slot("arg", verb=cmd.name, arg=arg, after=after))
    if all(s is None for s in slots):
        b.slots.append(Slot("none", verb=cmd.name))


def _may_use_current(model: Model, cmd: Command) -> bool:
    return cmd.takes_target() and bool(model.current())


def _min_needed(args: tuple[Arg, ...]) -> int:
    required = sum(1 for a in args if not a.optional and not a.variadic)
    return required + (1 if any(a.variadic for a in args) else 0)


def _arg_at(args: tuple[Arg, ...], position: int, total: int | None) -> Arg | None:
    """The Arg at a position; a variadic one takes every word but the required tail."""
    for index, arg in enumerate(args):
        if arg.variadic:
            tail = sum(1 for a in args[index + 1 :] if not a.optional)
            if total is None or position < total - tail:
                return arg if position >= index else args[position]
            return _arg_at(args[index + 1 :], position - (total - tail), None)
        if index == position:
            return arg
    return None


def _value_role(kind: str, word: str) -> str:
    if kind in ("int", "float"):
        return "number" if _is_number(word, kind) else "bad_number"
    return "value"


def _is_number(word: str, kind: str) -> bool:
    try:
        int(word) if kind == "int" else float(word)
    except ValueError:
        return False
    return True


def _arg_role(model: Model, cmd: Command, arg: Arg | None, word: str) -> str:
    if arg is None:
        return "extra"
    if arg.kind in TARGET_KINDS:
        return classify_target(model, cmd, arg, word)
    if arg.choices:
        return "choice" if word.lower() in arg.choices else "bad_choice"
    if arg.kind in ("int", "float"):
        return "number" if _is_number(word, arg.kind) else "bad_number"
    if arg.kind == "verb":
        return "verb" if word in model.verb_meta else "word"
    return "word"


def classify_target(model: Model, cmd: Command, arg: Arg, word: str) -> str:
    """keyword (all, none), target (a known plug), address (unknown host) or unknown."""
    from kshell.targets import parse_address

    if word.lower() in _keywords(cmd, arg):
        return "keyword"
    if model.index().is_known(word):
        return "target"
    if parse_address(word) is not None:
        return "address"
    return "unknown_target"


def _keywords(cmd: Command, arg: Arg) -> tuple[str, ...]:
    return (("all",) if arg.kind == "targets" else ()) + EXTRA_KEYWORDS.get(cmd.name, ())


# --- suggestions ------------------------------------------------------------------------------


def suggest(model: Model, text: str) -> Completions:
    """Ranked suggestions for the word that ends at the end of ``text`` (the cursor)."""
    tokens = scan(text)
    if tokens and tokens[-1].kind == COMMENT:
        return Completions(len(text), [])
    words = [t for t in current_command(tokens) if t.kind == WORD]
    partial: Token | None = None
    if words and words[-1].end == len(text):
        partial = words.pop()
    typed = partial.value if partial else ""
    start = partial.start if partial else len(text)
    binding = bind(model, [w.value for w in words], final=False)
    match = Matcher(typed)
    items: list[Suggestion] = []
    for slot in binding.slots:
        items += _for_slot(model, binding, slot, match)
    cmd = binding.command
    wants_options = typed.startswith("-") or any(s.kind == "none" for s in binding.slots)
    if (
        cmd is not None
        and wants_options
        and not any(s.kind == "option_value" for s in binding.slots)
    ):
        items += _options(cmd, binding, match)
    seen: set[str] = set()
    unique = [s for s in items if not (s.text in seen or seen.add(s.text))]  # type: ignore[func-returns-value]
    return Completions(start, unique)


def _for_slot(model: Model, b: Binding, slot: Slot, match: Matcher) -> list[Suggestion]:
    if slot.kind == "verb":
        return match.rank(
            [Suggestion(v, v, model.verb_meta[v], "verb") for v in model.verbs],
            key=lambda s: s.text,
        )
    if slot.kind == "subverb":
        reg = model.registry
        subs = [
            Suggestion(s, s, reg.commands[f"{slot.verb} {s}"].summary, "subverb")
            for s in reg.subverbs(slot.verb)
        ]
        return match.rank(subs, key=lambda s: s.text)
    if slot.kind == "option_value" and slot.opt is not None:
        if slot.opt.kind == "file":
            return path_suggestions(model.cwd(), match.typed)
        return []
    if slot.kind != "arg" or slot.arg is None:
        return []
    arg = slot.arg
    cmd = model.registry.commands[slot.verb]
    if arg.kind in TARGET_KINDS:
        return target_suggestions(model, cmd, arg, match, exclude=set(b.positional))
    if arg.choices:
        return match.rank(
            [Suggestion(c, c, arg.help, "choice") for c in arg.choices], key=lambda s: s.text
        )
    if arg.kind == "verb":
        return _for_slot(model, b, Slot("verb"), match)
    if arg.kind == "word" and arg.name == "subverb" and slot.after:
        return _for_slot(model, b, Slot("subverb", verb=slot.after), match)
    if arg.kind == "image":
        return image_suggestions(model.firmware_dir(), match, model.cwd())
    if arg.kind == "file":
        return path_suggestions(model.cwd(), match.typed)
    return []


def _options(cmd: Command, b: Binding, match: Matcher) -> list[Suggestion]:
    out = []
    for opt in cmd.all_options:
        if opt.name in b.used_options and not opt.repeat:
            continue
        shown = opt.name if opt.kind == "flag" else f"{opt.name} {opt.dest.upper()}"
        out.append(Suggestion(opt.name, shown, opt.help, "option"))
    return match.rank(out, key=lambda s: s.text)


def target_suggestions(
    model: Model, cmd: Command, arg: Arg, match: Matcher, exclude: set[str]
) -> list[Suggestion]:
    index = model.index()
    typed = match.typed
    keywords = [
        Suggestion(k, k, "every known plug" if k == "all" else "clear the current plug", "keyword")
        for k in _keywords(cmd, arg)
    ]
    pool: list[Candidate] = list(index.aliases)
    out = match.rank(keywords, key=lambda s: s.text)
    out += [
        Suggestion(quote_word(c.text), c.text, c.meta, c.kind)
        for c in match.rank(pool, key=lambda c: c.lower)
        if c.text not in exclude
    ]
    if typed[:1].isdigit():  # hosts and MACs by prefix only: a substring of an address is noise
        low = typed.lower()
        out += [
            Suggestion(c.text, c.text, c.meta, "host")
            for c in index.hosts
            if c.lower.startswith(low)
        ]
    if typed and all(ch in "0123456789abcdefABCDEF:-" for ch in typed):
        low = typed.lower().replace("-", ":")
        out += [
            Suggestion(c.text, c.text, c.meta, "mac") for c in index.macs if c.lower.startswith(low)
        ]
    return out


def image_suggestions(folder: Path | None, match: Matcher, cwd: Path) -> list[Suggestion]:
    """Library images by name, with what the manifest says they are for; paths after a /."""
    if "/" in match.typed:
        return path_suggestions(cwd, match.typed)
    if folder is None:
        return []
    described = _manifest(folder)
    found = []
    for entry in _scandir(folder):
        name = entry.name
        if name.startswith(".") or name.lower().endswith((".json", ".md", ".txt")):
            continue
        if entry.is_file():
            meta = described.get(name) or f"image, {_size(entry)}, not in the manifest"
            found.append(Suggestion(quote_word(name), name, meta, "image"))
    return match.rank(found, key=lambda s: s.display)


_MANIFESTS: dict[Path, tuple[int, dict[str, str]]] = {}


def _manifest(folder: Path) -> dict[str, str]:
    """file -> "models, hw, version" from the library manifest; re-read only when it changes."""
    path = folder / "manifest.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _MANIFESTS.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    described: dict[str, str] = {}
    try:
        from kshell.fwlibrary import Library

        for image in Library(folder).images():
            models = ", ".join(image.models) or "any model"
            hw = f" hw {', '.join(image.hw_versions)}" if image.hw_versions else ""
            described[image.file] = clean_meta(f"{models}{hw}: firmware {image.version}")
    except Exception:  # noqa: BLE001 - a broken manifest only costs the descriptions
        described = {}
    _MANIFESTS[path] = (stamp, described)
    return described


def clean_meta(text: str) -> str:
    from kshell.output import clean

    return clean(text, 120)


def path_suggestions(cwd: Path, typed: str) -> list[Suggestion]:
    """Files and folders whose names start with what is typed (scripts for ``replay``)."""
    head, sep, base = typed.rpartition("/")
    folder, prefix = cwd, ""
    if sep:
        folder = Path(os.path.expanduser(head or "/"))
        folder = folder if folder.is_absolute() else cwd / folder
        prefix = head + "/"
    out = []
    for entry in sorted(_scandir(folder), key=lambda e: e.name):
        name = entry.name
        if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        text = prefix + name + ("/" if is_dir else "")
        meta = "folder" if is_dir else _size(entry)
        out.append(Suggestion(quote_word(text), name + ("/" if is_dir else ""), meta, "file"))
        if len(out) >= MAX_FILES:
            break
    return out


def _scandir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def _size(entry: os.DirEntry[str]) -> str:
    try:
        size = entry.stat().st_size
    except OSError:
        return "file"
    for unit in ("B", "kB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "file"


class Matcher:
    """Fuzzy matching, best first: prefix, start of a word, substring, then letters in order."""

    def __init__(self, typed: str) -> None:
        self.typed = typed
        self.low = typed.lower()
        self._fuzzy = re.compile(".*?".join(re.escape(ch) for ch in self.low)) if self.low else None

    def score(self, candidate: str) -> tuple[int, int] | None:
        low = self.low
        if not low:
            return (0, 0)
        if candidate.startswith(low):
            return (0, len(candidate))
        at = candidate.find(low)
        if at > 0:
            return (1 if candidate[at - 1] in " -_/.:" else 2, at)
        found = self._fuzzy.search(candidate) if self._fuzzy else None
        return (3, found.end() - found.start()) if found else None

    def rank(self, items: list[T], key: Callable[[T], str]) -> list[T]:
        if not self.low:
            return list(items)
        scored = []
        for position, item in enumerate(items):
            score = self.score(key(item).lower())
            if score is not None:
                scored.append((score, position, item))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [item for _, _, item in scored]


# --- highlighting and "?" ------------------------------------------------------------------


def analyse(model: Model, text: str) -> list[tuple[Token, str]]:
    """Every token of ``text`` with its role, for the lexer."""
    tokens = scan(text)
    roles: dict[int, str] = {}
    for group in group_commands(tokens):
        binding = bind(model, [t.value for t in group], final=True)
        for token, role in zip(group, binding.roles):
            roles[token.start] = role
    out = []
    for token in tokens:
        if token.kind == WORD:
            role = roles.get(token.start, "word")
            if token.end == len(text) and _still_typing(model, role, token.value):
                role = "partial"  # not red while it is still the start of something known
            out.append((token, role))
        else:
            out.append((token, token.kind))
    return out


def _still_typing(model: Model, role: str, word: str) -> bool:
    low = word.lower()
    if role == "bad_verb":
        return any(v.startswith(low) for v in model.verbs)
    if role == "unknown_target":
        index = model.index()
        return any(c.lower.startswith(low) for c in index.aliases) or any(
            c.lower.startswith(low) for c in index.hosts
        )
    return False


def describe(model: Model, text: str) -> str:
    """What a trailing ``?`` shows: the usage of what is typed so far."""
    words = [t.value for t in current_command(scan(text)) if t.kind == WORD]
    reg = model.registry
    if not words:
        return _listing([(v, model.verb_meta[v]) for v in model.verbs], "commands:")
    binding = bind(model, words, final=False)
    cmd = binding.command
    if cmd is None:
        if binding.roles[0] == "bad_verb":
            near = Matcher(words[0]).rank(model.verbs, key=lambda v: v)
            if not near:
                return f"unknown command '{words[0]}' (help lists them)"
            return _listing([(v, model.verb_meta[v]) for v in near], f"commands like '{words[0]}':")
        subs = reg.subverbs(words[0])
        return _listing(
            [(f"{words[0]} {s}", reg.commands[f"{words[0]} {s}"].summary) for s in subs],
            f"{words[0]} takes a subcommand:",
        )
    lines = [f"usage: {cmd.usage()}", f"  {cmd.summary}"]
    nxt = [s.arg for s in binding.slots if s.kind == "arg" and s.arg is not None]
    for arg in nxt[:1]:
        lines.append(f"  next: {arg.name.upper()}" + (f" - {arg.help}" if arg.help else ""))
    for slot in binding.slots:
        if slot.kind == "option_value" and slot.opt is not None:
            lines.append(f"  next: value of {slot.opt.name} - {slot.opt.help}")
    if len(words) == 1 and reg.subverbs(words[0]):
        lines.append("  subcommands: " + ", ".join(reg.subverbs(words[0])))
    return "\n".join(lines)


def _listing(rows: list[tuple[str, str]], title: str) -> str:
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join([title] + [f"  {name:<{width}}  {meta}" for name, meta in rows])
