"""The interactive shell end to end, through a real pseudo-terminal (pexpect), against
simulated plugs on 127.20.1.x: what an operator types, and what they see."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
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
    result = subprocess.run([sys.executable, str(ROOT / "shell.py"), "--home", str(home),
                             "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture()
def known_home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    """A home whose device cache already knows the plugs; no discovery at start-up."""
    write_config(tmp_path, plugs, refresh=False)
    one_shot(tmp_path, "; ".join(f"add {host}" for host in plugs.hosts))
    return tmp_path


def spawn(home: Path) -> pexpect.spawn:
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, [str(ROOT / "shell.py"), "--home", str(home)],
                          cwd=str(home), env=env, dimensions=(30, 120), encoding="utf-8",
                          timeout=15)
    child.expect("Ctrl-D exits")
    return child


def type_line(child: pexpect.spawn, text: str) -> None:
    child.send(text + "\r")


def leave(child: pexpect.spawn) -> None:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_background_discovery_feeds_tab_completion_and_commands_show_tables(
    tmp_path: Path, plugs: SimulatorThread
) -> None:
    write_config(tmp_path, plugs, refresh=True)
    child = spawn(tmp_path)
    child.expect("4 answered discovery")  # the toolbar, once the background refresh is done
    child.send("off Kit")
    child.expect(re.escape("HS110(EU)"))  # the menu shows the plug's model as it is typed
    child.send("\t")
    child.expect(re.escape('"Kitchen Kettle"'))
    child.send("\r")
    child.expect("Kitchen Kettle: off")
    assert plugs.plug(KETTLE).sockets[0].state == 0
    type_line(child, "devices")
    child.expect(r"alias\s+host\s+model")
    child.expect(r"Office Heater\s+127\.20\.1\.4\s+HS110\(EU\)")
    child.expect("4 known, 4 online")
    leave(child)
    one_shot(tmp_path, "on 'Kitchen Kettle'")


def test_ctrl_c_cancels_a_long_command_and_the_shell_goes_on(known_home: Path) -> None:
    child = spawn(known_home)
    type_line(child, "ping all --count 100000 --interval 0.05")
    child.expect(re.escape("--interval 0.05"))
    child.sendintr()
    child.expect("interrupted")
    type_line(child, "nosuch command")
    child.expect("unknown command 'nosuch'")  # an error is one line, not the end of the shell
    child.send("off all")
    child.sendcontrol("c")  # Ctrl-C on a line being typed drops it
    type_line(child, "ping 'Kitchen Kettle' --count 1")
    child.expect(r"Kitchen Kettle \(127\.20\.1\.3\): 1 sent, 1 answered, 0% loss")
    leave(child)


def test_history_survives_a_restart_and_replay_runs_it(known_home: Path, plugs: SimulatorThread) -> None:
    child = spawn(known_home)
    type_line(child, "off 'Office Heater'")
    child.expect("Office Heater: off")
    leave(child)
    one_shot(known_home, "on 'Office Heater'")

    child = spawn(known_home)
    type_line(child, "history")
    child.expect(r"1\s+\S+ \S+\s+off 'Office Heater'")
    type_line(child, "replay 1")
    child.expect(re.escape("--- #1: off 'Office Heater'"))
    child.expect("Office Heater: off")
    child.expect(r"replayed 1 line\(s\)")
    assert plugs.plug(HEATER).sockets[0].state == 0
    leave(child)
    one_shot(known_home, "on 'Office Heater'")


def test_question_mark_shows_usage_and_confirmation_asks_y_n(known_home: Path) -> None:
    child = spawn(known_home)
    child.send("led ?")
    child.expect(re.escape("usage: led TARGET on|off"))
    child.expect("next: TARGET")
    child.sendcontrol("u")
    type_line(child, "reboot 'Office Heater'")
    child.expect(re.escape("[y/N]"))
    type_line(child, "n")
    child.expect("cancelled")
    type_line(child, "use 'Kitchen Kettle'")
    child.expect(r"using Kitchen Kettle \(127\.20\.1\.3\)")
    child.expect("Kitchen Kettle: on")  # the toolbar: the current plug and its state
    leave(child)
