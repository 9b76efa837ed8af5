"""The one binder: which declared argument or option each word of a command is.

Running (``parse_args``) and typing (completion and highlighting) both place
words here, so the word the prompt colours as a TARGET is the word the command gets as
its target. ``place`` never fails (a line being typed); ``parse`` raises a ``UsageError``
at the first word that does not fit, as the dispatcher needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kshell.errors import UsageError
from kshell.lang.args import Args

if TYPE_CHECKING:
    from kshell.lang.registry import Arg, Command, Opt


@dataclass(frozen=True, slots=True)
class Use:
    """What one word is: an option (``opt`` None when unknown), an option's value, or a
    positional argument (``arg`` None when the command takes no more)."""

    kind: str  # option | value | arg
    opt: Opt | None = None
    arg: Arg | None = None


@dataclass
class Placement:
    """Where every word of a line went (``place``)."""

    uses: list[Use] = field(default_factory=list)  # one per word
    positional: list[str] = field(default_factory=list)
    pending: Opt | None = None  # an option still waiting for its value at the end
    used_options: set[str] = field(default_factory=set)
    uses_current: bool = False  # the target left out, taken from ``use TARGET``


def split_option(word: str) -> tuple[str, str | None] | None:
    """``'--count=3'`` -> ``('--count', '3')``; ``'--yes'`` -> ``('--yes', None)``; else None."""
    if not word.startswith("--") or len(word) <= 2:
        return None
    key, eq, inline = word.partition("=")
    return key, (inline if eq else None)


def place(cmd: Command, words: list[str], current: str | None = None) -> Placement:
    """Every word's use, tolerant of anything (unknown options, extra words)."""
    opts = {o.name: o for o in cmd.all_options}
    out = Placement()
    positional_at: list[int] = []
    for word in words:
        if out.pending is not None:
            out.uses.append(Use("value", opt=out.pending))
            out.pending = None
            continue
        option = split_option(word)
        if option is None:
            positional_at.append(len(out.uses))
            out.uses.append(Use("arg"))
            out.positional.append(word)
            continue
        opt = opts.get(option[0])
        out.uses.append(Use("option", opt=opt))
        if opt is not None:
            out.used_options.add(opt.name)
            if opt.kind != "flag" and option[1] is None:
                out.pending = opt
    first = out.positional[0] if out.positional else None
    out.uses_current = leaves_out_target(cmd, len(out.positional), current, first)
    shift = 1 if out.uses_current else 0
    args, _ = assign(cmd.args, len(out.positional) + shift)
    for at, arg in zip(positional_at, args[shift:]):
        out.uses[at] = Use("arg", arg=arg)
    return out


def min_needed(args: tuple[Arg, ...]) -> int:
    required = sum(1 for a in args if not a.optional and not a.variadic)
    return required + (1 if any(a.variadic for a in args) else 0)


def leaves_out_target(
    cmd: Command, count: int, current: str | None, first: str | None = None
) -> bool:
    """With ``use TARGET`` set, a command whose first argument is a target may omit it; also
    when the first word is a choice of the argument after the target (``led off``, where
    ``led TARGET`` alone reads the light)."""
    if not (cmd.takes_target() and current):
        return False
    return count < min_needed(cmd.args) or (first is not None and _choice_after_target(cmd, first))


def _choice_after_target(cmd: Command, word: str) -> bool:
    return len(cmd.args) > 1 and word.lower() in cmd.args[1].choices


def assign(args: tuple[Arg, ...], count: int) -> tuple[list[Arg | None], Arg | None]:
    """The Arg of each of ``count`` positional words (None: one too many) and the first
    required Arg left without a word (None: nothing missing). A variadic argument takes
    every word but those the required arguments after it need."""
    out: list[Arg | None] = []
    missing: Arg | None = None
    left = count
    for index, arg in enumerate(args):
        if arg.variadic:
            tail = sum(1 for a in args[index + 1 :] if not a.optional)
            take = max(0, left - tail)
            if take == 0 and not arg.optional and missing is None:
                missing = arg
            out += [arg] * take
            left -= take
        elif left > 0:
            out.append(arg)
            left -= 1
        elif not arg.optional and missing is None:
            missing = arg
    return out + [None] * left, missing


def next_args(cmd: Command, count: int, current: str | None) -> list[Arg]:
    """The arguments the word after ``count`` positional ones may be, read by the same rule
    as ``assign``: whatever it is in some complete command that continues the line."""
    found: list[Arg] = []
    for total in range(count + 1, count + len(cmd.args) + 2):
        shift = 1 if leaves_out_target(cmd, total, current) else 0
        args, missing = assign(cmd.args, total + shift)
        arg = args[count + shift]
        if missing is None and arg is not None and arg not in found:
            found.append(arg)
    if count == 0 and current and cmd.takes_target() and len(cmd.args) > 1:
        choice = cmd.args[1]
        if choice.choices and choice not in found:
            found.append(choice)  # `led off` with a current plug: the target left out
    return found


def convert(kind: str, word: str) -> Any:
    """A word as its declared kind; ``ValueError`` when it is not one."""
    if kind == "int":
        return int(word)
    if kind == "float":
        value = float(word)
        if not math.isfinite(value):
            raise ValueError(word)
        return value
    return word


def fits(kind: str, word: str) -> bool:
    try:
        convert(kind, word)
    except ValueError:
        return False
    return True


def parse_args(cmd: Command, words: list[str], current: str | None = None) -> Args:
    """Bind words to the command's declaration, or raise at the first that does not fit."""
    values: dict[str, Any] = {o.dest: ([] if o.repeat else o.default) for o in cmd.all_options}
    placement = place(cmd, words, current)
    for index, (word, use) in enumerate(zip(words, placement.uses)):
        if use.kind != "option":
            continue
        key, inline = split_option(word) or (word, None)
        opt = use.opt
        if opt is None:
            raise UsageError(f"{cmd.name}: unknown option {key} (usage: {cmd.usage()})")
        if opt.kind == "flag":
            values[opt.dest] = True
            continue
        if inline is None:
            if index + 1 >= len(words):
                raise UsageError(f"{cmd.name}: {key} needs a value")
            inline = words[index + 1]
        value = _converted(cmd, key, opt.kind, inline)
        if opt.repeat:
            values[opt.dest].append(value)
        else:
            values[opt.dest] = value
    values.update(_positional(cmd, placement, current))
    return Args(values)


def _positional(cmd: Command, placement: Placement, current: str | None) -> dict[str, Any]:
    words = placement.positional
    if placement.uses_current and current:
        words = [current, *words]
    args, missing = assign(cmd.args, len(words))
    if missing is not None:
        raise UsageError(f"{cmd.name}: missing {missing.name.upper()} (usage: {cmd.usage()})")
    out: dict[str, Any] = {a.name: ([] if a.variadic else None) for a in cmd.args}
    for word, arg in zip(words, args):
        if arg is None:
            json_hint = (  # a JSON argument the shell split at its spaces, quotes eaten
                "; put the JSON in single quotes" if any(a.kind == "json" for a in cmd.args) else ""
            )
            raise UsageError(f"{cmd.name}: unexpected '{word}' (usage: {cmd.usage()}){json_hint}")
        if arg.variadic:
            out[arg.name].append(word)
            continue
        if arg.choices and word.lower() not in arg.choices:
            raise UsageError(f"{cmd.name}: {arg.name} must be one of {', '.join(arg.choices)}")
        out[arg.name] = _converted(cmd, arg.name, arg.kind, word.lower() if arg.choices else word)
    return out


def _converted(cmd: Command, name: str, kind: str, word: str) -> Any:
    try:
        return convert(kind, word)
    except ValueError:
        raise UsageError(f"{cmd.name}: {name} expects a number, got '{word}'") from None
