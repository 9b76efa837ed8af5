"""One dispatcher for every source of lines: prompt, ``-c``, script file, mail.

line -> grammar -> registry lookup -> the gate (permission, mail policy) -> confirmation
-> command -> results -> output. Errors become one line; the next command still runs.
Every command passes here, so every command passes the gate: a replayed line or one a
user's command runs is checked as the line that brought it.
"""

from __future__ import annotations

import asyncio
import io
import time
import traceback
from collections.abc import AsyncIterable, Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kshell.core import gate
from kshell.core.session import Session
from kshell.errors import KshellError, Refused
from kshell.events import Confirm, Row, Stream
from kshell.lang.args import Args
from kshell.lang.binding import parse_args
from kshell.lang.grammar import Line, split_commands
from kshell.lang.registry import Command
from kshell.results import Failure, Result, Text
from kshell.ui.output import Output, OutputClosed

if TYPE_CHECKING:  # a command that returns a stream brings the events and views with it
    from kshell.ui.views import Answer

# A stream that stops itself at its mail time limit (a watch) still gets to say its summary.
LIMIT_GRACE_S = 2.0


async def run_line(session: Session, text: str, output: Output) -> bool:
    """Run every command on a line (``;``-separated); True only if all succeeded."""
    session.invocation = replace(session.invocation, line_started=time.monotonic())
    try:
        lines = split_commands(text)
    except KshellError as exc:
        output.error(exc)
        return False
    ok = True
    for line in lines:
        ok = await run_command(session, line, output) and ok
    return ok


class _Relay(Output):
    """An Output that hands every result to a callback instead of printing it."""

    def __init__(self, deliver: Callable[[Result | Row], None]) -> None:
        super().__init__(io.StringIO(), io.StringIO(), color=False)
        self.interactive_view = False
        self.deliver = deliver

    def emit(self, result: Result) -> None:
        self.deliver(result)

    def error(self, error: KshellError) -> None:
        self.deliver(Failure(error))

    def note(self, text: str) -> None:
        self.deliver(Text(text))

    def emit_row(self, row: Row) -> None:
        self.deliver(row)


async def run_line_into(
    session: Session, text: str, deliver: Callable[[Result | Row], None]
) -> bool:
    """``run_line`` with each result handed to ``deliver`` as it comes (the session's
    ``run_line``: `replay` streams a script's lines through it)."""
    return await run_line(session, text, _Relay(deliver))


def line_as_it_runs(session: Session, text: str) -> str:
    """The line with each target typed as a prefix of an alias written as the whole alias
    (quoted): what history and ``record`` keep, since a file runs names whole (a prefix that
    is unique today may not be tomorrow). A line that does not parse is kept as typed."""
    from kshell.core.targets import whole_name
    from kshell.lang.binding import place
    from kshell.lang.grammar import quote, split_commands

    if not session.invocation.typed:
        return text  # prefixes name nothing here: the line runs as it is
    try:
        commands = split_commands(text)
    except KshellError:
        return text
    out: list[str] = []
    changed = False
    for one in commands:
        try:
            cmd, rest = session.registry.lookup(one.words)
        except KshellError:
            out.append(one.text)
            continue
        head = one.words[: len(one.words) - len(rest)]
        words = list(rest)
        for i, use in enumerate(place(cmd, rest, session.current).uses):
            if use.kind == "arg" and use.arg is not None and use.arg.kind in ("target", "targets"):
                full = whole_name(session, words[i])
                if full is not None:
                    words[i], changed = full, True
        out.append(" ".join(quote(w) for w in head + words))
    return "; ".join(out) if changed else text


async def run_command(session: Session, line: Line, output: Output) -> bool:
    ran = line_as_it_runs(session, line.text) if session.after_command else line.text
    kept = line if ran == line.text else Line(ran, split_commands(ran)[0].words)
    try:
        cmd, rest = session.registry.lookup(line.words)
        gate.admit(session, cmd)
        args = parse_args(cmd, rest, session.current)
        gate.admit_args(session, cmd, args)
        # only this field is put back: the prompt may plug its `ask` in or out meanwhile
        before, session.invocation = (
            session.invocation.changes,
            replace(session.invocation, changes=cmd.changes),
        )
        try:
            ok = await _within_limit(session, cmd, _execute(session, cmd, args, line, output))
        finally:
            session.invocation = replace(session.invocation, changes=before)
    except KshellError as exc:
        output.error(exc)
        ok = False
    except OutputClosed:
        raise  # nobody reads on: the whole run stops, quietly (kshell -c ... | head)
    except Exception as exc:  # noqa: BLE001 - the shell must survive a bug in one command
        if session.debug:
            traceback.print_exc()
        output.error(
            KshellError(f"internal error: {type(exc).__name__}: {exc} (--debug shows more)")
        )
        ok = False
    for hook in list(session.after_command):  # they keep the line as it ran, names whole
        hook(session, kept, ok)
    return ok


async def _execute(session: Session, cmd: Command, args: Args, line: Line, output: Output) -> bool:
    if cmd.confirm is True and not await confirmed(session, args, f"{line.text} -- go ahead?"):
        output.emit(Text("cancelled", {"cancelled": True}))
        return True

    async def answer(question: Confirm) -> bool:
        return await confirmed(session, args, question.question)

    return await deliver(await cmd.func(session, args), output, answer)


async def _within_limit(session: Session, cmd: Command, work: Coroutine[Any, Any, bool]) -> bool:
    limit = gate.time_limit(cmd, session.invocation)
    if limit is None:
        return await work
    try:
        async with asyncio.timeout(limit + LIMIT_GRACE_S) as deadline:
            return await work
    except TimeoutError:
        if not deadline.expired():
            raise  # a timeout inside the command is the command's own error
        raise KshellError(f"{cmd.name}: stopped after {limit:g} s (mail commands must end)")


async def confirmed(session: Session, args: Args, question: str) -> bool:
    """Ask a person, or refuse where nobody can answer unless ``--yes`` was given."""
    if getattr(args, "yes", False) or session.assume_yes:
        return True
    if session.ask is None:
        raise Refused("this command asks before acting and nobody can answer here: add --yes")
    return await session.ask(question)


async def deliver(result: Any, output: Output, answer: Answer | None = None) -> bool:
    """Send a command's return value to the output; False if any part failed.

    A stream (long work) goes to the view of the output's surface; its questions go to
    ``answer`` (none given: nobody can answer, so a question is refused)."""
    if result is None:
        return True
    if isinstance(result, AsyncIterable):  # a Stream, or a replay's results
        from kshell.ui.views import show

        try:
            return await show(result, output, answer or _nobody)
        finally:
            if isinstance(result, Stream):  # a stream left early (an output error) cleans up
                await result.aclose()
    items = result if isinstance(result, list) else [result]
    for item in items:
        output.emit(item)
    return not any(isinstance(item, Failure) for item in items)


async def _nobody(question: Confirm) -> bool:
    raise Refused("this command asks before acting and nobody can answer here: add --yes")
