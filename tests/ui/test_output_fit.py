"""Tables fit the terminal they are read on: the widest text columns wrap, nothing is lost;
a pipe gets the table whole (a script reads it as it was)."""

from __future__ import annotations

from pathlib import Path

from helpers.shell import run_shell, write_config
from helpers.terminal import Terminal

from kshell.results import Table
from kshell.ui.output import render

LONG = "emeter watch all --interval 2 --out /home/someone/power-readings-of-the-house.csv"


def test_a_table_wider_than_the_terminal_wraps_its_widest_text_column() -> None:
    table = Table(["n", "when", "line"], [[n, "2026-12-08 04:00:00", LONG] for n in (1, 2)])
    whole = render(table)
    assert max(len(line) for line in whole.splitlines()) > 60
    fitted = render(table, width=60)
    assert max(len(line) for line in fitted.splitlines()) <= 60
    for word in LONG.split():  # every word still there
        assert word.split("-")[0] in fitted
    assert render(table, width=200) == whole  # room enough: unchanged


def test_history_at_the_prompt_fits_a_120_column_terminal_and_a_pipe_gets_it_whole(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    write_config(home)
    long_line = "nosuch " + " ".join(f"word{n:03d}" for n in range(20))  # 146 characters
    terminal = Terminal(home)  # tmux, 120 columns
    try:
        terminal.send(long_line)
        terminal.key("Enter")
        terminal.expect("unknown command")
        terminal.send("history")
        terminal.key("Enter")
        terminal.expect(r"\d{4}-\d\d-\d\d \d\d:\d\d")  # the table's first row
        terminal.expect("word019")
        screen = terminal.screen()  # -J joins wrapped lines: an overlong line shows as one
        table = screen[screen.rindex("kshell> history") + len("kshell> history") :]
        assert max(len(line) for line in table.splitlines()) <= 120, table
        assert "word000" in table and "word019" in table  # wrapped, nothing lost
        terminal.leave()
    finally:
        terminal.close()
    piped = run_shell(home, "-c", "history").stdout
    assert any(long_line in line for line in piped.splitlines())  # a pipe: whole
