"""``kshell`` / ``python shell.py``: one command, a script, remote mode or the prompt.

All three share one dispatcher (kshell.ui.runner). Nothing interactive is imported for a
one-shot command: prompt_toolkit and pygments load only when the prompt opens, and the
mail stack only in remote mode.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kshell import __version__
from kshell.errors import KshellError, UsageError

if TYPE_CHECKING:  # types only: a one-shot command imports what it runs, no more
    from collections.abc import Coroutine

    from kshell.core.session import Session
    from kshell.ui.output import Output

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE (`| head`)


class _Formatter(argparse.HelpFormatter):
    """argparse's own help layout, told the terminal's width: left to find it, argparse
    imports shutil (and with it bz2, lzma and zlib) for every option it adds."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size finds it ($COLUMNS first), or 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    if sys.__stdout__ is None:
        return 80
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _seconds(text: str) -> float:
    """A deadline given on the command line: finite, above zero, at most a day (``nan``
    would switch every deadline off, as it did in the config)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 86400:  # false for nan too
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a number of seconds (0-86400]")
    return value


def parse_cli(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kshell",
        description="A shell for TP-Link Kasa smart plugs on your local network.",
        epilog="Run 'help' inside the shell, or: kshell -c help",
        formatter_class=_Formatter,
    )
    parser.add_argument("script", nargs="?", help="run commands from this file ('-' = stdin)")
    parser.add_argument("-c", dest="command", metavar="CMDS", help="run these commands and exit")
    parser.add_argument(
        "--json", action="store_true", help="JSON lines on stdout, errors on stderr"
    )
    parser.add_argument("--demo", action="store_true", help="simulated plugs on loopback")
    parser.add_argument("--listen", action="store_true", help="run remote (mail) mode headless")
    parser.add_argument(
        "--serve-metrics",
        metavar="[ADDR:]PORT",
        help="serve a Prometheus exporter headless (/metrics, /probe; default address 127.0.0.1)",
    )
    parser.add_argument(
        "--scrape-timeout", type=_seconds, metavar="S", help="exporter: one deadline per scrape (5)"
    )
    parser.add_argument("--home", metavar="DIR", help="state folder (default: XDG folders)")
    parser.add_argument("--config", metavar="FILE", help="config file (default: in the home)")
    parser.add_argument(
        "--commands",
        metavar="DIR",
        action="append",
        default=[],
        help="extra folder of command modules (repeatable)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", help="per-request deadline, seconds"
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="a script file goes on after a failed line (default: it stops there)",
    )
    parser.add_argument("--yes", "-y", action="store_true", help="answer yes to confirmations")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"kshell {__version__}")
    return parser.parse_args(argv)


def run() -> int:
    """The program (``kshell``, ``python shell.py``): ``main``, with the garbage collector
    off while it starts (``_started``) and everything frozen before it exits, so none of the
    collections CPython makes on its way out scans the ~20,000 objects start-up made (they
    cost a one-shot command a fifth of its time). Only a whole process may set this: a caller
    of ``main`` (a test) keeps its collector as it is."""
    gc.disable()
    # what kshell writes (the store and its -wal/-shm, journal, audit log, mail, history,
    # secrets) is the user's alone, whatever the login's umask: as ssh-keygen and gpg do
    os.umask(0o077)
    try:
        return main()
    finally:
        gc.freeze()


def _started() -> None:
    """Start-up is over (the session built, the command's module imported): the collector
    back on if ``run`` turned it off, with every object made so far (modules, classes, the
    session, all living until exit) frozen, so that no collection scans them again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    import asyncio

    args = parse_cli(argv)
    from kshell.app.build import build_session
    from kshell.ui.output import Output, OutputClosed
    from kshell.ui.views.terminal import TerminalTheme

    output = (
        _service_log() if _as_service(args) else Output(as_json=args.json, theme=TerminalTheme())
    )
    throwaway = None
    if args.demo and not args.home and not os.environ.get("KSHELL_HOME"):
        # keep a user's real cache clean; the folder goes when the demo does, however it ends
        import tempfile  # only the demo makes a throwaway home

        throwaway = args.home = tempfile.mkdtemp(prefix="kshell-demo-")
        _exit_on_termination()
    ended_by: list[int] = []  # the signal that ended a demo, once its loop has run
    try:
        try:
            session = build_session(args)
        except KshellError as exc:
            output.error(exc)
            return EXIT_USAGE
        try:
            loop_factory = _loop_factory(session, args)
            _started()
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                work = _main(args, session, output)
                if throwaway is not None:
                    work = _until_terminated(work, ended_by)
                code = runner.run(work)
            return 128 + ended_by[0] if ended_by else code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except asyncio.CancelledError:
            if not ended_by:
                raise
            return 128 + ended_by[0]
        except OutputClosed:
            return EXIT_PIPE
        finally:
            session.store.close()  # the store's last checkpoint now, not left to the collector
            _tell_unrecorded(session, output)
    finally:
        if throwaway is not None:
            import shutil
            import signal

            for sig in (signal.SIGTERM, signal.SIGHUP):  # we are leaving: let nothing stop the
                signal.signal(sig, signal.SIG_IGN)  # removal half-way
            shutil.rmtree(throwaway, ignore_errors=True)


def _as_service(args: argparse.Namespace) -> bool:
    """``--listen`` or ``--serve-metrics`` (and no command or script, which run first):
    what it says is a service's log."""
    serving = args.listen or args.serve_metrics is not None
    return serving and args.command is None and args.script is None


def _service_log() -> Output:
    from kshell.ui.servicelog import ServiceLog

    return ServiceLog()


def _tell_unrecorded(session: Session, output: Any) -> None:
    """Status writes queued while the store was locked or full, and lost: said once."""
    lost = session.store.unrecorded
    if lost:
        many = f"{len(lost)} changes" if len(lost) > 1 else "a change"
        from contextlib import suppress

        with suppress(Exception):  # the reader has gone: nothing more to tell
            output.note(f"warning: device store: {many} not recorded ({lost[-1]})")


def _exit_on_termination() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end the demo as an exit does, so its cleanup runs."""
    import signal

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


async def _until_terminated(work: Coroutine[Any, Any, int], ended_by: list[int]) -> int:
    """Run the demo's ``work``; SIGTERM and SIGHUP cancel it through the event loop, so its
    cleanup runs in order. (Raised from a plain signal handler, the exit could land inside a
    transport's callback, be reported as a background error and lost: the demo ran on.)"""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def stop(signum: int) -> None:
        ended_by.append(signum)
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop, sig)
    return await work


def _loop_factory(session: Session, args: argparse.Namespace) -> Any:
    """uvloop, when the speedups extra installed it, for work that runs long (the prompt,
    remote mode, scripts, a watch over many plugs spends much of its time in the event loop);
    a quick one-shot command keeps the standard loop and saves uvloop's import."""
    if args.command is not None and not _runs_long(session, args.command):
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _runs_long(session: Session, text: str) -> bool:
    """Does any command on the line declare that it runs long (a stream, a flow)?"""
    from kshell.lang.grammar import split_commands

    try:
        lines = split_commands(text)
    except KshellError:
        return False  # the runner reports it
    for line in lines:
        try:
            cmd, _ = session.registry.lookup(line.words)
        except KshellError:
            continue
        if cmd.long_running:
            return True
    return False


async def _main(args: argparse.Namespace, session: Session, output: Any) -> int:
    import asyncio

    from kshell.app.loop_errors import quiet_loop_errors

    say = output.note if _as_service(args) else None  # a service logs it as a warning
    asyncio.get_running_loop().set_exception_handler(quiet_loop_errors(session.debug, say))
    demo = None
    prompt_opened = False
    try:
        if args.demo:
            from kshell.app.demo import start_demo

            demo = await start_demo(
                session, output, quiet=bool(args.command or args.script or args.json)
            )
        if args.command is not None:
            from dataclasses import replace

            from kshell.ui.runner import run_line

            session.invocation = replace(session.invocation, typed=True)  # unique alias prefixes
            return EXIT_OK if await run_line(session, args.command, output) else EXIT_FAILED
        if args.script is not None:
            return await _run_script(session, args.script, output, args.keep_going)
        if args.serve_metrics is not None:
            from kshell.work.metrics.server import serve_headless, start_server

            if not args.listen:
                return await serve_headless(
                    session, output, args.serve_metrics, args.scrape_timeout
                )
            server = await start_server(session, args.serve_metrics, args.scrape_timeout)
            output.note(f"metrics: serving {server.describe()}")
        if args.listen:
            from kshell.app.remote.service import run_headless

            return await run_headless(session, output)
        if not sys.stdin.isatty():
            return await _run_script(session, "-", output, args.keep_going)
        from kshell.app.repl import run_prompt

        prompt_opened = True  # its banner reports broken command modules itself
        return await run_prompt(session)
    except KshellError as exc:
        output.error(exc)
        return EXIT_FAILED
    finally:
        if not prompt_opened:  # lazy loading finds broken modules late: report at the end
            for problem in session.registry.load_errors:
                output.note(f"warning: command module skipped: {problem}")
        if session.metrics is not None:
            await session.metrics.stop()
        session.close_connections()
        if demo is not None:
            demo.stop()


async def _run_script(session: Session, name: str, output: Output, keep_going: bool = False) -> int:
    """Run a script file line by line; stop at the first failed line unless ``keep_going``.

    Every error of a line names it as ``FILE:LINE:``, as a compiler would.
    """
    from kshell.ui.runner import run_line

    if name == "-":
        label, lines = "stdin", sys.stdin.read().splitlines()
    else:
        try:
            label, lines = name, Path(name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read script {name}: {exc}") from None
    ok = True
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        where = f"{label}:{number}"
        output.line_label = where  # one output for the whole script, told each line's place
        try:
            if await run_line(session, text, output):
                continue
        finally:
            output.line_label = ""
        ok = False
        if not keep_going:
            output.error(KshellError(f"stopped at {where} (it failed); --keep-going runs the rest"))
            break
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(run())
