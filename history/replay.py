"""Replaying earlier commands: history entries (``N``, ``N-M``) or a script file.

A script file is the format ``python shell.py FILE`` runs: one line of commands per line,
``#`` comments and blank lines ignored. Replay streams what it runs: a header per line,
then that line's own results as they come, so a long command inside a replay shows
progress and Ctrl-C stops the replay where it is.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kshell.history.store import HistoryStore

from kshell.core.session import Session
from kshell.errors import KshellError, Refused, UsageError
from kshell.events import Row
from kshell.lang.grammar import split_commands
from kshell.results import Failure, Result, Text

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
# Commands about history itself are not replayed: replaying a replay would loop.
META_VERBS = ("replay", "record", "history")
MAX_SCRIPT = 1024 * 1024


@dataclass(frozen=True)
class Step:
    label: str  # "#12" for a history entry, "name:3" for line 3 of a script
    line: str


def select(
    spec: str, store: HistoryStore, cwd: Path | None = None, *, files: bool = True
) -> tuple[list[Step], int]:
    """Steps for ``N``, ``N-M`` or FILE; also how many meta commands were left out.
    Without ``files`` (mail) only history entries are read, never a file."""
    m = _RANGE.match(spec.strip())
    if not files and not m:
        raise UsageError("replay: only history entries (N or N-M) here, never a file")
    if m and not (files and _is_file(spec, cwd)):
        first = int(m.group(1))
        last = int(m.group(2) or first)
        raw = [Step(f"#{e.number}", e.line) for e in store.span(first, last)]
    else:
        raw = read_script(Path(spec) if cwd is None else cwd / spec)
    steps, skipped = [], 0
    for step in raw:
        kept, dropped = drop_meta(step.line)
        skipped += dropped
        if kept:
            steps.append(Step(step.label, kept))
    return steps, skipped


def _is_file(spec: str, cwd: Path | None) -> bool:
    return (Path(spec) if cwd is None else cwd / spec).is_file() and not spec.isdigit()


def read_script(path: Path) -> list[Step]:
    try:
        if path.stat().st_size > MAX_SCRIPT:
            raise UsageError(f"{path}: larger than {MAX_SCRIPT // 1024} kB, not a session script")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"replay: no history entry or script named '{path}'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read script {path}: {exc}") from None
    steps = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            steps.append(Step(f"{path.name}:{number}", line.strip()))
    return steps


def drop_meta(line: str) -> tuple[str, int]:
    """The line without its replay/record/history commands, and how many were dropped."""
    try:
        commands = split_commands(line)
    except KshellError:
        return line, 0  # let the dispatcher report the parse error when it runs
    kept = [c.text for c in commands if not c.words or c.words[0] not in META_VERBS]
    return "; ".join(kept), len(commands) - len(kept)


_DONE = object()


async def run_steps(
    session: Session, steps: list[Step], *, step: bool = False, keep_going: bool = False
) -> AsyncIterator[Result | Row]:
    """Run each step through the dispatcher, yielding its results as they arrive."""
    failed = ran = 0
    for item in steps:
        yield Text(f"--- {item.label}: {item.line}", {"replay": item.label, "line": item.line})
        if step and not await _ask(session, f"run {item.label}: {item.line} ?"):
            yield Text("skipped", {"replay": item.label, "skipped": True})
            continue
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(_run_one(session, item.line, queue))
        try:
            while (got := await queue.get()) is not _DONE:
                yield got
        finally:
            if not task.done():
                task.cancel()  # Ctrl-C (or the consumer gave up): stop the command too
        ran += 1
        if not task.result():
            failed += 1
            if not keep_going:
                yield Failure(
                    KshellError(
                        f"replay stopped at {item.label} (it failed); --keep-going runs the rest"
                    )
                )
                return
    summary = f"replayed {ran} line(s)" + (f", {failed} failed" if failed else "")
    yield Text(summary, {"replayed": ran, "failed": failed})


async def _run_one(session: Session, text: str, queue: asyncio.Queue[Any]) -> bool:
    if session.run_line is None:
        queue.put_nowait(_DONE)
        raise KshellError("replay: no runner in this session (kshell.app.build installs one)")
    typed = session.invocation.typed  # a replayed line means what it meant: no prefixes
    session.invocation = replace(session.invocation, typed=False)
    try:
        return await session.run_line(session, text, queue.put_nowait)
    finally:
        session.invocation = replace(session.invocation, typed=typed)
        queue.put_nowait(_DONE)


async def _ask(session: Session, question: str) -> bool:
    if session.ask is None:
        raise Refused("replay --step asks before each line and nobody can answer here")
    return await session.ask(question)
