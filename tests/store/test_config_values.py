"""Hostile config values (issue 18, item 7): a port that is not 1-65535, a number that is not
a finite one in its key's range, a yes/no that is neither, is one line naming the file, the
section and the key; never a traceback, an internal error, or a check silently switched off
(``max_age_minutes = nan`` once let an order dated 2001 run). Plugs on 127.185.1.x."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest
from helpers.shell import ROOT, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.185.1.2"


def configured(home: Path, section: str, text: str) -> Path:
    """A home whose config sets ``text`` under ``[section]`` (added, or laid over the test
    config's own section)."""
    config = write_config(home)
    key = text.split("=")[0].strip()
    lines, current, placed = [], "", False
    for line in config.read_text().splitlines():
        if line.startswith("["):
            current = line.strip("[] ")
        elif current == section and line.split("=")[0].strip() == key:
            continue  # a key set twice in one section is a config error of its own
        lines.append(line)
        if line == f"[{section}]":
            lines.append(text)
            placed = True
    body = "\n".join(lines) + "\n" + ("" if placed else f"\n[{section}]\n{text}\n")
    config.write_text(body)
    return config


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


HOSTILE = [
    ("discovery", "port", "x", "is not a port (1-65535)", "help"),
    ("discovery", "port", "70000", "is not a port (1-65535)", "discover"),
    ("discovery", "port", "0", "is not a port (1-65535)", "discover"),
    ("discovery", "tcp_port", "-5", "is not a port (1-65535)", "discover"),
    ("discovery", "tdp_port", "99999", "is not a port (1-65535)", "discover"),
    ("discovery", "timeout", "-1", "above 0", "discover"),
    ("discovery", "timeout", "nan", "above 0", "discover"),
    ("discovery", "timeout", "inf", "above 0", "discover"),
    ("discovery", "refresh_on_start", "maybe", "yes or no", "help"),
    ("shell", "timeout", "-1", "above 0", "help"),
    ("shell", "timeout", "nan", "above 0", "help"),
    ("shell", "timeout", "1e400", "above 0", "help"),
    ("emeter", "interval", "nan", "from 0", f"emeter watch {PLUG} --count 1"),
    ("emeter", "interval", "-1", "from 0", f"emeter watch {PLUG} --count 1"),
]


@pytest.mark.parametrize(("section", "key", "value", "says", "line"), HOSTILE)
def test_a_hostile_value_is_one_line_naming_file_section_and_key(
    tmp_path: Path, section: str, key: str, value: str, says: str, line: str
) -> None:
    home = tmp_path / "home"
    config = configured(home, section, f"{key} = {value}")
    result = run_shell(home, "-c", line, timeout=30)
    assert result.returncode in (1, 2)
    error = one_line_error(result)
    assert f"{config} [{section}] {key}: '{value}' " in error, error
    assert says in error, error


def test_a_hostile_metrics_value_stops_the_exporter_before_it_serves(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = configured(home, "metrics", "min_interval = nan")
    result = run_shell(home, "--serve-metrics", "127.185.1.9:0", timeout=30)
    assert result.returncode in (1, 2)
    assert f"{config} [metrics] min_interval: 'nan' " in one_line_error(result)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, udp_port=None, alias="Heater", model="HS110(EU) 2.0", relay_state=1)
    with SimulatorThread([spec]) as running:
        yield running


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "x"])
def test_max_age_minutes_that_is_not_a_sane_number_never_lets_an_old_order_run(
    tmp_path: Path, sim: SimulatorThread, value: str
) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        extra=(
            "\n[remote]\nreply_from = kshell@home.test\ntrusted_authserv_id = mx.home.test\n"
            f"max_age_minutes = {value}\n\n[senders]\nboss@home.test = admin\n"
        ),
    )
    for sub in ("tmp", "new", "cur"):
        (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    old = formatdate(time.mktime((2001, 1, 1, 12, 0, 0, 0, 1, -1)))
    mail = (
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\r\n"
        f"From: boss@home.test\r\nTo: kshell@home.test\r\nSubject: plug\r\nDate: {old}\r\n"
        f"Message-ID: {make_msgid(domain='home.test')}\r\n\r\n!off {PLUG}\r\n"
    )
    (home / "Maildir" / "new" / "1.old.test").write_text(mail)
    listener = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "--listen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = listener.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        listener.kill()
        out, err = listener.communicate()
    result = subprocess.CompletedProcess(listener.args, listener.returncode, out, err)
    assert sim.plug(PLUG).relay_state == 1, "the 2001 order ran"
    assert result.returncode in (1, 2)
    error = one_line_error(result)
    assert f"[remote] max_age_minutes: '{value}' " in error, error


@pytest.mark.parametrize("flag", ["--timeout", "--scrape-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "x"])
def test_a_deadline_flag_that_is_not_a_sane_number_is_refused(
    tmp_path: Path, flag: str, value: str
) -> None:
    write_config(tmp_path)
    result = run_shell(tmp_path, f"{flag}={value}", "-c", "help")
    assert result.returncode == 2
    assert f"{flag}: '{value}' is not a number of seconds" in result.stderr
    assert "Traceback" not in result.stderr
