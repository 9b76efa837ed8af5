"""`remote off` leaves nothing behind: in a real terminal (tmux), remote mode on an IMAP
source (Dovecot) is turned on and off, the shell waits past the IDLE refresh, and then a
watch still stops on Ctrl-C and nothing was printed in between (the IDLE wait that used to
be left pending raised its TimeoutError into prompt_toolkit's handler, whose "Press ENTER"
swallowed the next line and left Ctrl-C dead)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.dovecot import Dovecot
from helpers.shell import ROOT
from helpers.terminal import Terminal

from kshell.simulator import SimulatorThread, demo_specs

REFRESH = 3  # [remote] idle_refresh for the test: seconds, not the 240 of the default
UNEXPECTED = ("Unhandled exception", "Press ENTER", "Traceback", "background error")


@pytest.fixture()
def plugs() -> Iterator[SimulatorThread]:
    with SimulatorThread(demo_specs(2, base="127.20.19.2", udp_port=0)) as sim:
        yield sim


def _home(home: Path, sim: SimulatorThread, server: Dovecot) -> None:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "kshell.ini"
    config.write_text(
        "[discovery]\nbroadcast = 127.255.255.255\n"
        f"port = {sim.udp_port}\ntimeout = 0.5\nrefresh_on_start = no\n\n"
        f"[remote]\nsource = imap://kshell:secret@127.0.0.1:{server.port}/INBOX\n"
        f"idle_refresh = {REFRESH}\n\n[senders]\nboss@home.test = control\n"
    )
    config.chmod(0o600)
    added = subprocess.run(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c", "add 127.20.19.3"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr


def _type(term: Terminal, text: str) -> None:
    term.send(text)
    term.key("Enter")


def test_remote_off_then_past_the_idle_refresh_ctrl_c_still_stops_a_watch(
    tmp_path: Path, plugs: SimulatorThread
) -> None:
    Dovecot.require()
    with Dovecot(users={"kshell": "secret"}) as server:
        _home(tmp_path, plugs, server)
        term = Terminal(tmp_path)
        try:
            _type(term, "remote on")
            term.expect("remote: on, listening on imap")
            time.sleep(1.5)  # connected and in IDLE: the wait that was left behind
            _type(term, "remote off")
            term.expect("remote: off")
            time.sleep(REFRESH + 5 + 3)  # past the refresh and the IDLE wait's own timeout
            _type(term, "emeter watch 127.20.19.3 --interval 0.1")
            term.expect(r"[\d.]+\s+[\d.]+")  # readings: the line ran, nothing swallowed it
            term.key("C-c")
            term.expect("interrupted")
            _type(term, "remote status")
            term.expect(r"state\s+off")
            screen = term.screen()
            for text in UNEXPECTED:
                assert text not in screen, screen
            term.leave()
        finally:
            term.close()


BACKGROUND_FAILURE = """
import asyncio

from kshell.lang.registry import command
from kshell.results import Text


@command("boom later", permission="read")
async def boom_later(session, args):
    \"\"\"Fail in the background, after the prompt is back.\"\"\"
    asyncio.get_running_loop().call_later(0.5, lambda: 1 / 0)
    return Text("armed", {})
"""


def test_a_background_error_at_the_prompt_is_one_line_above_it(tmp_path: Path) -> None:
    """Whatever fails in the background (a callback, a task nobody awaits) is one warning
    line above the prompt, never prompt_toolkit's "Unhandled exception" with its "Press
    ENTER" pause, and the next line typed still runs."""
    folder = tmp_path / "cmds"
    folder.mkdir()
    (folder / "boom.py").write_text(BACKGROUND_FAILURE)
    (tmp_path / "kshell.ini").write_text(
        f"[shell]\ncommand_folders = {folder}\n\n[discovery]\nrefresh_on_start = no\n"
    )
    term = Terminal(tmp_path)
    try:
        _type(term, "boom later")
        term.expect("armed")
        term.expect(r"warning: background error \(ZeroDivisionError: division by zero\)")
        _type(term, "remote status")  # the next line is not eaten by a "Press ENTER"
        term.expect(r"state\s+off")
        screen = term.screen()
        assert "Unhandled exception" not in screen and "Press ENTER" not in screen, screen
        assert screen.count("background error") == 1, screen
        term.leave()
    finally:
        term.close()
