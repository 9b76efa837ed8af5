"""The interactive shell end to end, through a real pseudo-terminal (pexpect), against
simulated plugs on 127.20.1.x: what an operator types, and what they see."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kshell.simulator import SimulatorThread, demo_specs

ROOT = Path(__file__).resolve().parent.parent
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


class Terminal:
    """The shell in a real terminal (tmux): keys go in as a person types them, and the
    assertions read the screen as the person sees it, toolbar included."""

    def __init__(self, home: Path) -> None:
        self.socket = str(home / "tmux.sock")
        self.seen: dict[str, int] = {}
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        command = (
            f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'shell.py'))} "
            f"--home {shlex.quote(str(home))}; echo kshell-exit-$?; sleep 60"
        )
        self.tmux("new-session", "-d", "-x", "120", "-y", "30", "-c", str(home), command, env=env)
        self.expect("Ctrl-D exits")

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500")

    def expect(self, pattern: str, timeout: float = 15.0) -> None:
        """Wait until ``pattern`` (a regex) shows once more than it did at the last wait."""
        deadline = time.monotonic() + timeout
        before = self.seen.get(pattern, 0)
        while True:
            screen = self.screen()
            count = len(re.findall(pattern, screen))
            if count > before:
                self.seen[pattern] = count
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {pattern!r} on the screen:\n{screen}")
            time.sleep(0.05)

    def send(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def key(self, *names: str) -> None:
        self.tmux("send-keys", *names)

    def leave(self) -> None:
        self.key("C-d")
        self.expect("kshell-exit-0")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"], check=False, capture_output=True, timeout=10
        )


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
    ctx.cache.merge(DeviceRecord("127.20.1.9", alias="Fridge", state="on"))
    ctx.cache.merge(DeviceRecord("127.20.1.10", alias="Shed", state="off", online=False))
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
