"""``ping`` shows each answer as it comes, and Ctrl-C keeps the statistics so far
(issue 10, item 8): one-shot through a pipe, and at the prompt in a real terminal (tmux)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import ROOT, run_shell, write_config
from helpers.terminal import Terminal

from kshell.simulator import PlugSpec, SimulatorThread

LAMP = "127.21.2.2"


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    with SimulatorThread([PlugSpec(host=LAMP, alias="Lamp", udp_port=None)]) as sim:
        yield sim


@pytest.fixture()
def home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    path = tmp_path / "home"
    write_config(path)
    assert run_shell(path, "-c", f"add {LAMP}").returncode == 0
    return path


def start(home: Path, line: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "--json", "-c", line],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_each_answer_shows_as_it_comes(home: Path) -> None:
    proc = start(home, "ping Lamp --count 4 --interval 0.5")
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert proc.poll() is None  # seen while the pings still run (they take 1.5 s)
    assert first["event"] == "reply" and first["seq"] == 1 and first["rtt_ms"] > 0
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(30) == 0
    assert [r["seq"] for r in rest[:3]] == [2, 3, 4]
    assert rest[-1]["sent"] == 4 and rest[-1]["interrupted"] is False


def test_ctrl_c_keeps_the_statistics_so_far(home: Path) -> None:
    proc = start(home, "ping Lamp --count 10000 --interval 0.05")
    assert proc.stdout is not None
    try:
        replies = [json.loads(proc.stdout.readline()) for _ in range(3)]
        assert [r["seq"] for r in replies] == [1, 2, 3]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    summary = [json.loads(line) for line in out.splitlines()][-1]
    assert summary["interrupted"] is True and summary["target"] == "Lamp"
    assert 3 <= summary["sent"] < 10000 and summary["answered"] == summary["sent"]
    assert "Traceback" not in err


def test_ctrl_c_at_the_prompt_shows_the_statistics(home: Path) -> None:
    term = Terminal(home)
    try:
        term.send("ping Lamp --count 10000 --interval 0.05")
        term.key("Enter")
        term.expect(r"Lamp \(127\.21\.2\.2\): seq 5: [\d.]+ ms")
        term.expect(r"Lamp \(127\.21\.2\.2\): seq 8: [\d.]+ ms")  # well under way
        term.key("C-c")
        term.expect(r"Lamp \(127\.21\.2\.2\): \d+ sent, \d+ answered, 0% loss \(interrupted\)")
        term.expect("interrupted")
        term.send("help on")
        term.key("Enter")
        term.expect("usage: on TARGETS")
        term.leave()
    finally:
        term.close()
