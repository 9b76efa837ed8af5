"""Colours only in terminal views (issue 23): the output layer asks a theme for them.

A terminal gets errors in red and titles in bold; ``--json``, a pipe and a mail transcript
never carry an escape sequence; and no module outside the terminal views and the prompt
writes one itself.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kshell.errors import UsageError
from kshell.results import Failure, Record, Table
from kshell.ui.output import Collector, Output
from kshell.ui.views.terminal import TerminalTheme

ROOT = Path(__file__).resolve().parents[2]
MAY_COLOUR = ("kshell/ui/views/", "kshell/app/repl/")
# an escape sequence however a source spells it: \x1b[, \033[, \u001b[, \N{ESCAPE}[ or raw
ESCAPE = re.compile(r"(\\x1b|\\033|\\u001b|\\N\{ESCAPE\}|\x1b)\[", re.IGNORECASE)
RED, BOLD = "\x1b[31m", "\x1b[1m"


def escapes_outside_views(root: Path) -> list[str]:
    found = []
    for folder in ("kshell", "commands", "history"):
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(MAY_COLOUR):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if ESCAPE.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_terminal_views_writes_an_escape_sequence():
    assert escapes_outside_views(ROOT) == []


def test_the_grep_finds_one(tmp_path):
    (tmp_path / "kshell" / "ui").mkdir(parents=True)
    (tmp_path / "kshell" / "ui" / "output.py").write_text('BOLD = "\\x1b[1m"\n')
    assert escapes_outside_views(tmp_path) == ['kshell/ui/output.py:1: BOLD = "\\x1b[1m"']


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


RESULTS = (
    Failure(UsageError("no such plug")),
    Record("Kitchen", {"state": "on"}),
    Table(["name"], [["Kitchen"]], title="Devices"),
)


def _shown(output: Output) -> str:
    for result in RESULTS:
        output.emit(result)
    output.error(UsageError("again"))
    return output.out.getvalue() + output.err.getvalue()  # type: ignore[attr-defined]


def test_a_terminal_shows_colour(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    text = _shown(Output(Terminal(), Terminal(), theme=TerminalTheme()))
    assert f"{RED}error: no such plug" in text and f"{RED}error: again" in text
    assert f"{BOLD}Kitchen" in text and f"{BOLD}Devices" in text


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: Output(Terminal(), Terminal(), as_json=True, theme=TerminalTheme()), id="json"
        ),
        pytest.param(
            lambda: Output(io.StringIO(), io.StringIO(), theme=TerminalTheme()), id="pipe"
        ),
        pytest.param(lambda: Collector(), id="mail"),
        pytest.param(lambda: Output(Terminal(), Terminal()), id="no-theme"),
    ],
)
def test_json_pipes_and_mail_never_show_colour(monkeypatch, make):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b" not in _shown(make())


def test_no_color_turns_it_off_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in _shown(Output(Terminal(), Terminal(), theme=TerminalTheme()))
