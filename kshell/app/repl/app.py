"""The prompt: one PromptSession, and a loop that reads a line and runs it as a task.

A command runs as an asyncio task in the prompt's own loop, so Ctrl-C (SIGINT while no
prompt is on screen) cancels just that task, a stream included, and the prompt comes
back. Background work (the start-up discovery, remote mode) shares the loop and prints
above the prompt. No error ends the shell: only Ctrl-D or ``exit`` do.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import traceback
from dataclasses import replace

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from kshell import __version__
from kshell.app.loop_errors import quiet_loop_errors
from kshell.app.repl import confirm, refresh, terminal
from kshell.app.repl.highlight import KshellHighlighter
from kshell.app.repl.keys import build_key_bindings, wants_literal_question_mark
from kshell.app.repl.style import build_style, color_depth
from kshell.app.repl.toolbar import prompt_text, toolbar_text
from kshell.core.session import Session
from kshell.text import clean
from kshell.ui.completer.engine import Model, describe
from kshell.ui.completer.prompt import KshellCompleter
from kshell.ui.output import Output
from kshell.ui.runner import run_line
from kshell.ui.views.terminal import TerminalTheme

EXIT_OK = 0


class Shell:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.model = Model.from_context(session)
        self.running: asyncio.Task[bool] | None = None
        self.background: list[asyncio.Task[None]] = []
        style, self.style_problems = build_style(session.config)
        self.prompt: PromptSession[str] = PromptSession(
            message=lambda: prompt_text(session),
            bottom_toolbar=lambda: toolbar_text(session, self.model),
            completer=KshellCompleter(self.model),
            complete_while_typing=True,
            lexer=KshellHighlighter(self.model),
            style=style,
            color_depth=color_depth(session.config),
            include_default_pygments_style=False,
            key_bindings=build_key_bindings(self.model),
            history=self._history(),
            auto_suggest=AutoSuggestFromHistory(),
            enable_history_search=False,
            reserve_space_for_menu=6,
        )

    def _history(self) -> History:
        try:
            from kshell.app.repl.history import StoreHistory
            from kshell.history.store import store_for
        except ImportError:  # history/ missing from an odd install: keep the session's lines only
            return InMemoryHistory()
        from kshell.ui.runner import line_as_it_runs

        session = self.session
        return StoreHistory(store_for(session), lambda text: line_as_it_runs(session, text))

    async def run(self) -> int:
        session = self.session
        session.ports.prompt_open = True
        session.invocation = replace(
            session.invocation, typed=True
        )  # unique alias prefixes allowed
        session.ask = confirm.ask
        session.read_secret = confirm.read_secret
        session.ports.print_above = terminal.print_above
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() is None:  # run without the CLI (a test): the same line
            loop.set_exception_handler(quiet_loop_errors(session.debug))
        loop.add_signal_handler(signal.SIGINT, self._interrupt)
        try:
            self._banner()
            if refresh.wanted(session):
                self.background.append(loop.create_task(refresh.refresh(session, self._redraw)))
            while not session.ports.exit_requested:
                try:
                    with patch_stdout(raw=True):
                        # the loop's own handler says a background error in one line;
                        # prompt_toolkit's would stop at "Press ENTER" and eat the next line
                        text = await self.prompt.prompt_async(
                            handle_sigint=False, set_exception_handler=False
                        )
                except KeyboardInterrupt:
                    continue  # Ctrl-C on the line: drop it, prompt again
                except EOFError:
                    break
                try:
                    await self.handle(text)
                except Exception as exc:  # noqa: BLE001 - nothing a line does may end the shell
                    self._report(exc)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            for task in self.background:
                task.cancel()
            session.ask = None
            session.read_secret = None
            session.ports.prompt_open = False
            session.ports.print_above = None
        return EXIT_OK

    async def handle(self, text: str) -> None:
        stripped = text.strip()
        if not stripped:
            return
        if stripped.endswith("?") and not wants_literal_question_mark(stripped[:-1]):
            print(describe(self.model, stripped[:-1]))
            return
        output = Output(
            theme=TerminalTheme()
        )  # made now: it writes to the real stdout, not to patch_stdout's proxy
        self.running = asyncio.ensure_future(run_line(self.session, text, output))
        try:
            await asyncio.wait([self.running])
            if self.running.cancelled():
                output.note("interrupted")
            elif (failure := self.running.exception()) is not None:
                self._report(failure)
        finally:
            self.running = None
            self.model.invalidate()

    def _interrupt(self) -> None:
        """SIGINT while a command runs (the terminal is not in raw mode then): cancel it."""
        if self.running is not None and not self.running.done():
            self.running.cancel()

    def _redraw(self) -> None:
        self.model.invalidate()
        app = self.prompt.app
        if app.is_running:
            app.invalidate()

    def _report(self, exc: BaseException) -> None:
        if self.session.debug:
            traceback.print_exception(exc)
        print(
            f"error: internal error: {type(exc).__name__}: {clean(str(exc), 300)}", file=sys.stderr
        )

    def _banner(self) -> None:
        index = self.model.index()
        known = (
            f"{index.count} known plug(s), {index.online} online"
            if index.count
            else "no plugs known yet"
        )
        print(
            f"kshell {__version__}: {known}. Tab completes, ? shows usage, help lists commands, "
            "Ctrl-D exits."
        )
        if getattr(self.session.config, "first_written", False):  # say where things live
            paths = self.session.paths
            print(
                f"first run: the config is {paths.config_file} (every key with its default); "
                f"plugs, history and logs are kept in {paths.data}"
            )
        for problem in self.style_problems:
            print(f"warning: {problem}")
        for problem in self.session.registry.load_errors:
            if not problem.endswith("command folder not found"):  # the CLI said those already
                print(f"warning: command module skipped: {clean(problem, 300)}")
