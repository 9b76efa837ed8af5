"""The role of each word already typed, and what may come next, read through the one
binder (``kshell.lang.binding``) that dispatch uses: a word coloured as a TARGET is the word
the command gets as its target."""

from __future__ import annotations

from dataclasses import dataclass, field

from kshell.lang.binding import fits, next_args, place
from kshell.lang.registry import Arg, Command, Opt
from kshell.store.names import fold
from kshell.ui.completer.known import Known

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


def bind(known: Known, words: list[str], *, final: bool) -> Binding:
    """Roles of ``words`` (one command) and, unless ``final`` (the whole command, as when
    highlighting), the slots that may come after them."""
    reg = known.registry
    if not words:
        return Binding(None, [], [Slot("verb")])
    verb = words[0]
    roles = ["verb" if verb in known.verb_meta else "bad_verb"]
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
    _bind_rest(known, cmd, words[used:], binding, final)
    return binding


def _bind_rest(known: Known, cmd: Command, words: list[str], b: Binding, final: bool) -> None:
    placement = place(cmd, words, known.current)
    b.used_options = placement.used_options
    b.positional = placement.positional
    for word, use in zip(words, placement.uses):
        if use.kind == "option":
            b.roles.append("option" if use.opt is not None else "bad_option")
        elif use.kind == "value" and use.opt is not None:
            b.roles.append(_value_role(use.opt.kind, word))
        else:
            b.roles.append(_arg_role(known, cmd, use.arg, word))
    if final:
        return
    if placement.pending is not None:
        b.slots.append(Slot("option_value", opt=placement.pending))
        return
    after = b.positional[-1] if b.positional else ""
    nexts = next_args(cmd, len(b.positional), known.current)
    b.slots += [Slot("arg", verb=cmd.name, arg=arg, after=after) for arg in nexts]
    if not nexts:
        b.slots.append(Slot("none", verb=cmd.name))


def _value_role(kind: str, word: str) -> str:
    if kind in ("int", "float"):
        return "number" if fits(kind, word) else "bad_number"
    return "value"


def _arg_role(known: Known, cmd: Command, arg: Arg | None, word: str) -> str:
    if arg is None:
        return "extra"
    if arg.kind in TARGET_KINDS:
        return classify_target(known, cmd, arg, word)
    if arg.choices:
        return "choice" if word.lower() in arg.choices else "bad_choice"
    if arg.kind in ("int", "float"):
        return "number" if fits(arg.kind, word) else "bad_number"
    if arg.kind == "verb":
        return "verb" if word in known.verb_meta else "word"
    return "word"


def classify_target(known: Known, cmd: Command, arg: Arg, word: str) -> str:
    """keyword (all, none), target (a known plug, or a unique prefix of an alias, as the
    resolver reads it at the prompt), incapable_target (a known plug without what the
    argument needs, e.g. a meter), address (an unknown host) or unknown_target."""
    from kshell.core.targets import parse_address

    if word.lower() in keywords(cmd, arg):
        return "keyword"
    name = word
    if not known.targets.is_known(word):
        if parse_address(word) is not None:
            return "address"
        matches = known.prefixes.matches(word, limit=2)
        if len(matches) != 1:
            return "unknown_target"
        name = matches[0]
    if any(fold(name) in known.lacking.get(need, ()) for need in arg.needs):
        return "incapable_target"
    return "target"


def keywords(cmd: Command, arg: Arg) -> tuple[str, ...]:
    return (("all",) if arg.kind == "targets" else ()) + EXTRA_KEYWORDS.get(cmd.name, ())


def still_typing(known: Known, role: str, word: str) -> bool:
    """Is this last word the start of something known (not red while it is typed)?"""
    low = fold(word)
    if role == "bad_verb":
        return any(v.startswith(low) for v in known.verbs)
    if role in ("unknown_target", "incapable_target"):
        index = known.targets
        return any(c.lower.startswith(low) for c in index.aliases) or any(
            c.lower.startswith(low) for c in index.hosts
        )
    return False
