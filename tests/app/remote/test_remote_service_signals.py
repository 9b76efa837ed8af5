"""kshell as a service: ``--listen`` and ``--serve-metrics`` log to stderr one line per event
with its level; SIGHUP reloads the config (a bad one refused, the old kept); SIGTERM
finishes the mail in hand and exits 0. Real processes, a Maildir source, a simulated plug
on 127.20.19.20 and an aiosmtpd reply sink."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink, free_port
from helpers.headless import Headless, deliver, wait_for
from helpers.mail import make_mail
from helpers.maildir import configure
from helpers.shell import ROOT, run_shell

from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.20.19.20"
LEVELS = re.compile(r"^(INFO|WARNING|ERROR) .")  # a mail's transcript lines are indented
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # anything but the line's own \n


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Lamp", relay_state=1)
    with SimulatorThread([spec]) as running:
        yield running


@pytest.fixture
def sink() -> Iterator[ReplySink]:
    with ReplySink() as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for sub in ("tmp", "new", "cur"):
        (home / "Maildir" / sub).mkdir(parents=True)
    return home


def assert_log(err: str) -> list[str]:
    """Every line a level and an event, nothing a terminal would act on."""
    lines = err.splitlines()
    assert lines, "nothing was logged"
    for line in lines:
        assert LEVELS.match(line), (line, err)
        assert not CONTROL.search(line), (line, err)
    return lines


def test_listen_logs_one_line_per_event_with_a_level_on_stderr(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    listener = Headless(home)
    done = deliver(home, make_mail(f"!off {PLUG}"), "1.log")
    hostile = make_mail(  # a stranger whose name and subject would recolour a terminal
        "!on all", sender="=?utf-8?q?Evil=1B[31m?= <evil@elsewhere.test>", subject="x\x1b[2Jy"
    )
    refused = deliver(home, hostile, "2.log")
    wait_for(lambda: done.exists() and refused.exists(), "both mails to be handled")
    code, out, err = listener.stop()
    assert code == 0, err
    assert out == ""  # the log is stderr, whole
    lines = assert_log("".join(listener.said) + err)
    assert lines[-1] == "INFO remote: stopped"
    assert any(line.startswith("INFO remote: listening on maildir") for line in lines)
    assert any(f"!off {PLUG}" in line for line in lines)
    assert any("rejected" in line and "nothing run" in line for line in lines), lines
    assert sim.plug(PLUG).relay_state == 0


def test_a_lost_imap_server_is_a_warning_line_and_sigterm_still_exits_0(
    home: Path, sink: ReplySink
) -> None:
    configure(home, sink, f"source = imap://kshell:secret@127.0.0.1:{free_port()}/INBOX\n")
    listener = Headless(home)
    listener.follow()
    line = listener.expect("reconnecting in")
    assert line.startswith("WARNING remote: imap 127.0.0.1:"), line
    assert "secret" not in line  # the URL's password never reaches the log
    code, _out, err = listener.stop()
    assert code == 0, err
    assert_log(err)


def test_a_bad_config_at_start_is_one_error_line(home: Path, sink: ReplySink) -> None:
    configure(home, sink, "marker = a\n")
    result = run_shell(home, "--listen", timeout=30)
    assert result.returncode != 0 and result.stdout == ""
    assert assert_log(result.stderr) == [result.stderr.strip()]
    assert result.stderr.startswith("ERROR [remote] marker must be punctuation"), result.stderr


def test_under_systemd_each_line_starts_with_its_syslog_priority(
    home: Path, sink: ReplySink
) -> None:
    """systemd names the journal's stream in $JOURNAL_STREAM (device:inode of stderr);
    journald takes a leading <N> as the line's priority and strips it."""
    configure(home, sink, f"source = imap://kshell:secret@127.0.0.1:{free_port()}/INBOX\n")
    read_end, write_end = os.pipe()
    st = os.fstat(write_end)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "--listen"],
        stdout=subprocess.DEVNULL,
        stderr=write_end,
        cwd=ROOT,
        env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
    )
    os.close(write_end)
    lines: list[str] = []
    with os.fdopen(read_end, encoding="utf-8") as log:
        reader = threading.Thread(target=lambda: lines.extend(log), daemon=True)
        reader.start()
        wait_for(lambda: any("reconnecting" in line for line in lines), "a warning")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, lines
        reader.join(timeout=10)
    assert lines[0].startswith("<6>INFO remote: listening on imap"), lines
    assert any(line.startswith("<4>WARNING remote: imap") for line in lines), lines
    assert all(re.match(r"<[346]>(INFO|WARNING|ERROR) ", line) for line in lines), lines


def test_serve_metrics_logs_to_stderr_with_levels(home: Path) -> None:
    from helpers.shell import write_config

    write_config(home)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home)]
        + ["--serve-metrics", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    first = proc.stderr.readline() if proc.stderr else ""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out == ""
    assert first.startswith("INFO metrics: serving http://127.0.0.1:"), first
    assert assert_log(first + err)[-1] == "INFO metrics: stopped"


def test_sighup_takes_a_good_config_for_the_next_mail_and_refuses_a_bad_one(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    config = home / "kshell.ini"
    configure(home, sink, senders="boss@home.test = control\n")
    listener = Headless(home)
    listener.follow()
    newcomer = "Newcomer <new@home.test>"
    first = deliver(home, make_mail(f"!off {PLUG}", sender=newcomer), "1.hup")
    wait_for(first.exists, "the stranger's mail")
    assert sim.plug(PLUG).relay_state == 1  # not a sender yet: nothing ran
    good = config.read_text().replace("[senders]\n", "[senders]\nnew@home.test = control\n")
    config.write_text(good)
    listener.proc.send_signal(signal.SIGHUP)
    assert listener.expect("reloaded").startswith("INFO remote: reloaded ")
    second = deliver(home, make_mail(f"!off {PLUG}", sender=newcomer), "2.hup")
    wait_for(second.exists, "the new sender's mail")
    wait_for(lambda: sim.plug(PLUG).relay_state == 0, "the plug to go off")

    config.write_text(good.replace("[remote]\n", "[remote]\nrate_per_hour = lots\n"))  # bad
    listener.proc.send_signal(signal.SIGHUP)
    refused = listener.expect("not reloaded")
    assert refused.startswith("ERROR remote: ") and "old config is kept" in refused, refused
    assert "rate_per_hour" in refused
    third = deliver(home, make_mail(f"!on {PLUG}", sender=newcomer), "3.hup")
    wait_for(third.exists, "a mail after the refused reload")
    wait_for(lambda: sim.plug(PLUG).relay_state == 1, "the plug on: the old config held")

    config.unlink()  # gone: refused too, never read as the defaults (no senders at all)
    listener.proc.send_signal(signal.SIGHUP)
    assert "is missing" in listener.expect("not reloaded")
    code, _out, err = listener.stop()
    assert code == 0, err
    assert_log(err)


def test_sigterm_while_idle_exits_0(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    listener = Headless(home)
    code, out, err = listener.stop()
    assert (code, out) == (0, ""), err
    assert assert_log(err) == [
        "INFO remote: SIGTERM: finishing the mail in hand, then stopping",
        "INFO remote: stopped",
    ]


def test_sigterm_finishes_the_mail_in_hand_and_exits_0(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    import sqlite3

    from kshell.app.remote.service import JOURNAL_NAME

    configure(home, sink)
    sim.set_fault(PLUG, "delay", 3)  # the order takes 3 s: SIGTERM comes in the middle
    listener = Headless(home, "--timeout", "10")
    listener.follow()
    done = deliver(home, make_mail(f"!off {PLUG}"), "1.term")
    journal = home / JOURNAL_NAME

    def running() -> bool:
        with sqlite3.connect(journal) as db:
            return [s for (s,) in db.execute("SELECT state FROM messages")] == ["running"]

    wait_for(lambda: journal.exists() and running(), "the order to be running")
    listener.proc.send_signal(signal.SIGTERM)
    code, _out, err = listener.stop()
    assert code == 0, err
    assert done.exists()  # finished and moved, not left half-run
    with sqlite3.connect(journal) as db:
        assert [s for (s,) in db.execute("SELECT state FROM messages")] == ["done"]
    assert sim.plug(PLUG).relay_state == 0
    assert len(sink.messages) == 1  # its sender has the reply
