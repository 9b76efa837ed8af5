"""The interactive shell end to end, through a real pseudo-terminal (pexpect), against
simulated plugs on 127.20.1.x: what an operator types, and what they see."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import ROOT
from helpers.terminal import Terminal

from kshell.simulator import SimulatorThread, demo_specs

KETTLE, HEATER = "127.20.1.3", "127.20.1.4"


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    # Living Room Lamp, Kitchen Kettle, Office Heater, Media Strip; UDP on a free port of its own
    with SimulatorThread(demo_specs(4, base="127.20.1.2", udp_port=0)) as sim:
        yield sim


def write_config(home: Path, sim: SimulatorThread, refresh: bool) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kshell.ini").write_text(
        "[discovery]\nbroadcast = 127.255.255.255\n"
        f"port = {sim.udp_port}\ntimeout = 0.5\nrefresh_on_start = {'yes' if refresh else 'no'}\n"
    )


def one_shot(home: Path, command: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c", command],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture()
def known_home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    """A home whose device cache already knows the plugs; no discovery at start-up."""
    write_config(tmp_path, plugs, refresh=False)
    one_shot(tmp_path, "; ".join(f"add {host}" for host in plugs.hosts))
    return tmp_path


@pytest.fixture()
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def open_shell(home: Path, terminals: list[Terminal]) -> Terminal:
    terminal = Terminal(home)
    terminals.append(terminal)
    return terminal


def type_line(term: Terminal, text: str) -> None:
    term.send(text)
    term.key("Enter")


def test_background_discovery_feeds_tab_completion_and_commands_show_tables(
    tmp_path: Path, plugs: SimulatorThread, terminals: list[Terminal]
) -> None:
    write_config(tmp_path, plugs, refresh=True)
    term = open_shell(tmp_path, terminals)
    term.expect("4 answered discovery")  # the toolbar, once the background refresh is done
    term.send("off Kit")
    term.expect(re.escape("HS110(EU)"))  # the menu shows the plug's model as it is typed
    term.key("Tab")
    term.expect(re.escape('off "Kitchen Kettle"'))
    term.key("Enter")
    term.expect("Kitchen Kettle: off")
    assert plugs.plug(KETTLE).sockets[0].state == 0
    type_line(term, "devices")
    term.expect(r"alias\s+host\s+model")
    term.expect(r"Office Heater\s+127\.20\.1\.4\s+HS110\(EU\)")
    term.expect("4 known, 4 online")
    term.leave()
    one_shot(tmp_path, "on 'Kitchen Kettle'")


def test_ctrl_c_cancels_a_long_command_and_the_shell_goes_on(
    known_home: Path, terminals: list[Terminal]
) -> None:
    term = open_shell(known_home, terminals)
    type_line(term, "ping all --count 10000 --interval 0.05")
    term.expect(r"seq 3: [\d.]+ ms")  # running: a key typed before it starts is lost
    term.key("C-c")
    term.expect(r"\(interrupted\), rtt")  # the statistics so far, then the line ends
    term.expect("interrupted")
    type_line(term, "emeter watch 'Kitchen Kettle' --interval 0.1")  # a live stream
    term.expect(r"Kitchen Kettle\s+[\d.]+\s+[\d.]+")  # a row of readings, redrawn in place
    term.key("C-c")
    term.expect("interrupted")
    type_line(term, "nosuch command")
    term.expect("unknown command 'nosuch'")  # an error is one line, not the end of the shell
    term.send("off all")
    term.key("C-c")  # Ctrl-C on a line being typed drops it
    type_line(term, "ping 'Kitchen Kettle' --count 1")
    term.expect(r"Kitchen Kettle \(127\.20\.1\.3\): 1 sent, 1 answered, 0% loss")
    assert "Kitchen Kettle: off" not in term.screen()
    term.leave()


def test_history_survives_a_restart_and_replay_runs_it(
    known_home: Path, plugs: SimulatorThread, terminals: list[Terminal]
) -> None:
    term = open_shell(known_home, terminals)
    type_line(term, "off 'Office Heater'")
    term.expect("Office Heater: off")
    term.leave()
    one_shot(known_home, "on 'Office Heater'")

    term = open_shell(known_home, terminals)
    # the previous session's line comes back; prompt_toolkit loads the history file in the
    # background, so on a busy machine the first Up may come too early: press again, as a
    # person would
    for _ in range(10):
        term.key("Up")
        try:
            term.expect(re.escape("> off 'Office Heater'"), timeout=1.5)
            break
        except AssertionError:
            term.key("C-u")
    else:
        raise AssertionError("Up never brought back the previous session's line")
    term.key("C-u")
    type_line(term, "history")
    term.expect(r"1\s+\S+ \S+\s+off 'Office Heater'")
    type_line(term, "replay 1 --step")
    term.expect(re.escape("--- #1: off 'Office Heater'"))
    term.expect(re.escape("run #1: off 'Office Heater' ? [y/N]"))
    type_line(term, "y")
    term.expect(r"replayed 1 line\(s\)")
    assert plugs.plug(HEATER).sockets[0].state == 0
    term.leave()
    one_shot(known_home, "on 'Office Heater'")


def test_question_mark_shows_usage_and_confirmation_asks_y_n(
    known_home: Path, terminals: list[Terminal]
) -> None:
    term = open_shell(known_home, terminals)
    term.send("led ?")
    term.expect(re.escape("usage: led TARGET [on|off]"))
    term.expect("next: TARGET")
    term.key("C-u")
    type_line(term, "reboot 'Office Heater'")
    term.expect(re.escape("[y/N]"))
    type_line(term, "n")
    term.expect("cancelled")
    type_line(term, "use 'Kitchen Kettle'")
    term.expect(r"using Kitchen Kettle \(127\.20\.1\.3\)")
    term.expect(r"kshell Kitchen Kettle>")  # the prompt names the current plug
    term.expect("Kitchen Kettle: on")  # and the toolbar shows its state
    term.leave()


def test_prompt_and_toolbar_show_the_current_plug_its_power_and_remote_mode(
    tmp_path: Path,
) -> None:
    import argparse

    from kshell.app.build import build_session
    from kshell.app.repl.toolbar import prompt_text, toolbar_text
    from kshell.store.devices import DeviceRecord
    from kshell.ui.completer.engine import Model

    ctx = build_session(argparse.Namespace(home=str(tmp_path), config=None, commands=[]))
    ctx.store.observe(DeviceRecord("127.20.1.9", alias="Fridge", state="on"))
    ctx.store.observe(DeviceRecord("127.20.1.10", alias="Shed", state="off", online=False))
    model = Model.from_context(ctx)

    def flat(parts: list[tuple[str, str]]) -> str:
        return "".join(text for _, text in parts)

    assert flat(prompt_text(ctx)) == "kshell> "
    assert flat(toolbar_text(ctx, model)).startswith(" 2 known, 1 online")
    ctx.current = "Fridge"
    ctx.readings.power_w["Fridge"] = 87.25
    ctx.remote = _Listening("imap: idle, 3 done")  # type: ignore[assignment]  # what the toolbar reads
    assert flat(prompt_text(ctx)) == "kshell Fridge [remote]> "
    bar = flat(toolbar_text(ctx, model))
    assert "Fridge: on, 87.2 W" in bar
    assert "remote: imap: idle, 3 done" in bar
    ctx.current = "Shed"
    ctx.remote = None
    assert flat(prompt_text(ctx)) == "kshell Shed> "
    assert "Shed: offline" in flat(toolbar_text(ctx, model))


class _Listening:
    """A remote service as the toolbar sees it: running, and where it listens."""

    running = True

    def __init__(self, where: str) -> None:
        self.where = where

    def describe(self) -> str:
        return self.where


def test_tab_typed_in_the_same_burst_as_the_word_still_completes(
    known_home: Path, terminals: list[Terminal]
) -> None:
    """A fast typist's Tab arrives before the completion menu: it must complete anyway."""
    term = open_shell(known_home, terminals)
    term.tmux("send-keys", "info Kitch", "Tab")  # one write: the word and Tab together
    term.expect(re.escape('info "Kitchen Kettle"'))
    term.key("Enter")
    term.expect(r"Kitchen Kettle \(127\.20\.1\.3\)")
    term.leave()


def test_off_all_at_the_prompt_lists_the_plugs_and_asks_first(
    known_home: Path, plugs: SimulatorThread, terminals: list[Terminal]
) -> None:
    one_shot(known_home, "on all")
    term = open_shell(known_home, terminals)
    type_line(term, "off all")
    term.expect(r"switch off 4 plugs: .*Kitchen Kettle.*\[y/N\]")
    type_line(term, "n")
    term.expect("cancelled: nothing was switched")
    assert plugs.plug(KETTLE).sockets[0].state == 1  # the answer was no: nothing moved
    type_line(term, "off all --yes")  # --yes: no question
    term.expect("Kitchen Kettle: off")
    assert plugs.plug(KETTLE).sockets[0].state == 0
    type_line(term, "reboot all")  # a restart names what it restarts
    term.expect(r"restart 4 plugs: .*Office Heater.*\[y/N\]")
    type_line(term, "n")
    term.expect("cancelled: nothing was restarted")
    term.leave()
    one_shot(known_home, "on all")  # -c has nobody to ask: acts as told, as before
    assert plugs.plug(KETTLE).sockets[0].state == 1
