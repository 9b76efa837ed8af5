"""History and sessions: history, replay, record.

The prompt writes every line typed to the history file in the state folder; these
commands read it back, run parts of it again, and save what runs as a script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kshell.core.session import Session
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Table, Text

HISTORY_SPEC = r"\d+(-\d+)?"


@command(
    "history",
    args=(Arg("count", "int", "show the last COUNT lines (default 25)", optional=True),),
    options=(Opt("--grep", "str", "only lines containing this text"),),
    permission="read",
    examples=("history", "history 100", "history --grep emeter"),
    by_mail=ByMail.YES,
    mail_permission="admin",  # the operator's own prompt lines
)
async def history(session: Session, args: Args) -> Result:
    """Show the numbered lines typed at the prompt (replay N runs one again)."""
    from kshell.history.store import store_for

    entries = store_for(session).entries()
    if args.grep:
        entries = [e for e in entries if args.grep.lower() in e.line.lower()]
    count = 25 if args.count is None else args.count
    if count < 0:
        raise UsageError("history: COUNT must be 0 or more")
    shown = entries[-count:] if count else []
    rows = [[e.number, e.when, e.line] for e in shown]
    data = [{"number": e.number, "when": e.when, "line": e.line} for e in shown]
    footer = f"{len(shown)} of {len(entries)} line(s); replay N or replay N-M runs them again"
    return Table(["#", "when", "command"], rows, data, footer=footer)


@command(
    "replay",
    args=(
        Arg(
            "what",
            "file",
            "history entry N, a range N-M, or a script FILE",
            mail_pattern=HISTORY_SPEC,  # by mail: entries only, never a file
        ),
    ),
    options=(
        Opt("--dry-run", help="show what would run, run nothing"),
        Opt("--step", help="ask before each line"),
        Opt("--keep-going", help="go on after a line fails (default: stop there)"),
    ),
    permission="admin",  # a replay can hold any command
    examples=("replay 12", "replay 12-15 --dry-run", "replay morning.kshell --step"),
    long_running=True,
    by_mail=ByMail.YES,
)
async def replay(session: Session, args: Args) -> Any:
    """Run history entries or a script file again, stopping at the first error.

    A script file is the format `python shell.py FILE` runs and `record` writes. The
    replay, record and history commands inside what is replayed are left out.
    """
    from kshell.history.replay import run_steps, select
    from kshell.history.store import store_for

    files = session.invocation.may_use_files
    steps, skipped = select(args.what, store_for(session), Path.cwd(), files=files)
    note = f"; {skipped} replay/record/history command(s) left out" if skipped else ""
    if args.dry_run:
        rows = [[s.label, s.line] for s in steps]
        data = {"dry_run": True, "lines": [{"from": s.label, "line": s.line} for s in steps]}
        return Table(["from", "would run"], rows, data, footer=f"dry run: nothing was run{note}")
    if not steps:
        return Text(f"nothing to replay{note}", {"replayed": 0})
    return run_steps(session, steps, step=args.step, keep_going=args.keep_going)


@command(
    "record",
    args=(Arg("file", "file", "script file to write the commands that run to", optional=True),),
    options=(Opt("--append", help="add to an existing script instead of refusing"),),
    permission="admin",  # it writes a file: not for a read-only mail sender
    examples=("record morning.kshell", "record stop", "record"),
    by_mail=ByMail.NO,
)
async def record(session: Session, args: Args) -> Result:
    """Save the commands that run from now on as a replayable script (record stop ends).

    Without FILE, says whether a recording is running.
    """
    from kshell.history import record as rec

    if not args.file:
        current = rec.active(session)
        if current is None:
            return Text("not recording (record FILE starts)", {"recording": None})
        return Text(
            f"recording to {current.path}: {current.count} command(s) so far",
            {"recording": str(current.path), "count": current.count},
        )
    recorder = rec.start(session, Path(args.file).expanduser(), append=args.append)
    return Text(
        f"recording to {recorder.path} (record stop ends)", {"recording": str(recorder.path)}
    )


@command("record stop", permission="admin", examples=("record stop",), by_mail=ByMail.NO)
async def record_stop(session: Session, args: Args) -> Result:
    """Stop recording and close the script."""
    from kshell.history import record as rec

    recorder = rec.stop(session)
    failed = f", {recorder.failed} failed one(s) kept as comments" if recorder.failed else ""
    return Text(
        f"saved {recorder.count} command(s) to {recorder.path}{failed}; "
        f"replay {recorder.path} runs them",
        {"saved": str(recorder.path), "count": recorder.count, "failed": recorder.failed},
    )
