"""What can come next at the cursor: the pure half of completion (no terminal needed).

Everything is derived from the command registry (each Arg's ``kind`` and ``needs``) and
the device index, so completion, highlighting and ``?`` help read the same declarations,
the same scanner (``kshell.lang.grammar``) and the same binder (``kshell.lang.binding``) that
dispatch does. ``what_next`` turns what is typed into ranked suggestions; ``roles`` gives
the lexer a role per word; ``usage_help`` is the text behind a trailing ``?``. Each takes
a ``Known`` snapshot and nothing else: no clock, no disk unless through its providers.
``suggest``, ``analyse`` and ``describe`` are the same, read from a live ``Model``.
"""

from __future__ import annotations

from kshell.lang.grammar import COMMENT, WORD, Token, current_command, group_commands, scan
from kshell.lang.registry import Arg, Command
from kshell.store.names import fold
from kshell.text import clean
from kshell.ui.completer.files import image_suggestions, path_suggestions
from kshell.ui.completer.known import Completions, Known, Suggestion
from kshell.ui.completer.matcher import Matcher
from kshell.ui.completer.model import Model
from kshell.ui.completer.roles import TARGET_KINDS, Binding, Slot, bind, keywords, still_typing
from kshell.ui.completer.targets import quote_word

MAX_OFFERED = 500  # plugs offered at most for one word

__all__ = ["Completions", "Known", "Model", "Suggestion", "analyse", "describe", "suggest"]


def suggest(model: Model, text: str) -> Completions:
    return what_next(model.known(), text)


def analyse(model: Model, text: str) -> list[tuple[Token, str]]:
    return roles(model.known(), text)


def describe(model: Model, text: str) -> str:
    return usage_help(model.known(), text)


# --- suggestions ------------------------------------------------------------------------------


def what_next(known: Known, text: str) -> Completions:
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
    joined = _spelt_apart(known, [w.value for w in words], typed) if partial else 0
    if joined:  # `on Media Strip/` typed unquoted: the whole name replaces all its words
        start = words[-joined].start
        typed = " ".join([w.value for w in words[-joined:]] + [typed])
        words = words[:-joined]
    binding = bind(known, [w.value for w in words], final=False)
    match = Matcher(typed)
    items: list[Suggestion] = []
    for slot in binding.slots:
        items += _for_slot(known, binding, slot, match)
    cmd = binding.command
    wants_options = typed.startswith("-") or any(s.kind == "none" for s in binding.slots)
    if (
        cmd is not None
        and wants_options
        and not any(s.kind == "option_value" for s in binding.slots)
    ):
        items += _options(cmd, binding, match)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.text not in seen:
            seen.add(item.text)
            unique.append(item)
    return Completions(start, unique)


def _spelt_apart(known: Known, before: list[str], typed: str) -> int:
    """How many words before ``typed`` are the start of one plug's name with it (a name
    typed unquoted: ``Media Strip/``), the most first; 0 when none (the verb is never one)."""
    names = [c.lower for c in known.targets.aliases]
    for count in range(min(3, len(before) - 1), 0, -1):
        start = fold(" ".join([*before[-count:], typed]))
        if any(name.startswith(start) for name in names):
            return count
    return 0


def _for_slot(known: Known, b: Binding, slot: Slot, match: Matcher) -> list[Suggestion]:
    if slot.kind == "verb":
        return match.rank(
            [Suggestion(v, v, known.verb_meta[v], "verb") for v in known.verbs],
            key=lambda s: s.text,
        )
    if slot.kind == "subverb":
        reg = known.registry
        subs = [
            Suggestion(s, s, reg.commands[f"{slot.verb} {s}"].summary, "subverb")
            for s in reg.subverbs(slot.verb)
        ]
        return match.rank(subs, key=lambda s: s.text)
    if slot.kind == "option_value" and slot.opt is not None:
        if slot.opt.kind == "file":
            return path_suggestions(known.listdir, match.typed)
        return []
    if slot.kind != "arg" or slot.arg is None:
        return []
    arg = slot.arg
    cmd = known.registry.commands[slot.verb]
    if arg.kind in TARGET_KINDS:
        return target_suggestions(known, cmd, arg, match, exclude=set(b.positional))
    if arg.choices:
        return match.rank(
            [Suggestion(c, c, arg.help, "choice") for c in arg.choices], key=lambda s: s.text
        )
    if arg.kind == "verb":
        return _for_slot(known, b, Slot("verb"), match)
    if arg.kind == "word" and arg.name == "subverb" and slot.after:
        return _for_slot(known, b, Slot("subverb", verb=slot.after), match)
    if arg.kind == "image":
        if "/" in match.typed:
            return path_suggestions(known.listdir, match.typed)
        return image_suggestions(known.images(), match)
    if arg.kind == "file":
        return path_suggestions(known.listdir, match.typed)
    if arg.kind == "rule":
        word = b.positional[0] if b.positional else known.current
        found = [("all", "every rule")] if arg.name == "rule" and not arg.optional else []
        found += known.rules(word) if word else []
        items = [Suggestion(rid, rid, text, "keyword") for rid, text in found]
        return match.rank(items, key=lambda s: s.text)
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
    known: Known, cmd: Command, arg: Arg, match: Matcher, exclude: set[str]
) -> list[Suggestion]:
    """Plugs that can take the argument (``arg.needs``), best match first."""
    index = known.targets
    typed = match.typed
    lacks: set[str] = set().union(*(known.lacking.get(need, set()) for need in arg.needs))
    keyword_items = [
        Suggestion(k, k, "every known plug" if k == "all" else "clear the current plug", "keyword")
        for k in keywords(cmd, arg)
    ]
    pool = [c for c in index.aliases if c.lower not in lacks] if lacks else index.aliases
    # prefixes first and only, across keywords and names alike (`on all` offers no "Hallway")
    strict = any(match.starts(fold(k.text)) for k in keyword_items) or any(
        match.starts(c.lower) for c in pool
    )
    out = match.rank(keyword_items, key=lambda s: s.text, prefix_only=strict)
    for c in match.rank(pool, key=lambda c: c.lower, folded=True, prefix_only=strict):
        if len(out) >= MAX_OFFERED:
            break  # a menu longer than this helps nobody; typing more narrows it
        if c.text not in exclude:
            # shown escaped: a plug names itself, and a menu line must stay one line
            text, kind = (c.insert, "host") if c.insert else (quote_word(c.text), c.kind)
            out.append(Suggestion(text, clean(c.text, 64), c.meta, kind))
    if typed[:1].isdigit():  # hosts and MACs by prefix only: a substring of an address is noise
        low = fold(typed)
        out += [
            Suggestion(c.text, c.text, c.meta, "host")
            for c in index.hosts
            if c.lower.startswith(low) and c.lower not in lacks
        ]
    if typed and all(ch in "0123456789abcdefABCDEF:-" for ch in typed):
        low = typed.lower().replace("-", ":")
        out += [
            Suggestion(c.text, c.text, c.meta, "mac")
            for c in index.macs
            if c.lower.startswith(low) and c.lower not in lacks
        ]
    return out


# --- highlighting and "?" ------------------------------------------------------------------


def roles(known: Known, text: str) -> list[tuple[Token, str]]:
    """Every token of ``text`` with its role, for the lexer."""
    tokens = scan(text)
    found: dict[int, str] = {}
    for group in group_commands(tokens):
        binding = bind(known, [t.value for t in group], final=True)
        for token, role in zip(group, binding.roles):
            found[token.start] = role
    out = []
    for token in tokens:
        if token.kind == WORD:
            role = found.get(token.start, "word")
            if token.end == len(text) and still_typing(known, role, token.value):
                role = "partial"  # not red while it is still the start of something known
            out.append((token, role))
        else:
            out.append((token, token.kind))
    return out


def usage_help(known: Known, text: str) -> str:
    """What a trailing ``?`` shows: the usage of what is typed so far."""
    words = [t.value for t in current_command(scan(text)) if t.kind == WORD]
    reg = known.registry
    if not words:
        return _listing([(v, known.verb_meta[v]) for v in known.verbs], "commands:")
    binding = bind(known, words, final=False)
    cmd = binding.command
    if cmd is None:
        if binding.roles[0] == "bad_verb":
            near = Matcher(words[0]).rank(known.verbs, key=lambda v: v)
            if not near:
                return f"unknown command '{words[0]}' (help lists them)"
            return _listing([(v, known.verb_meta[v]) for v in near], f"commands like '{words[0]}':")
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
