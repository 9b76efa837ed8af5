"""A journal that cannot be written (a full disk): the same error is said once, counted and
backed off, not logged for every waiting mail every 0.2 s; when writes work again the
mails run, once, and the count is said. A mail that ran while writes failed is ``done``,
not "interrupted".

The fault is real and needs no privilege: the listener's file size limit (RLIMIT_FSIZE,
set on the running child with prlimit; Python ignores SIGXFSZ) makes every write past the
first byte of any file fail with EFBIG, as a full disk makes them fail with ENOSPC.

Plugs here live on 127.50.19.x (30 and up).
"""

from __future__ import annotations

import resource
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.headless import Headless, deliver, wait_for
from helpers.mail import make_mail
from helpers.maildir import configure

from kshell.app.remote.service import JOURNAL_NAME
from kshell.simulator import PlugSpec, SimulatorThread

PLUG, SLOW = "127.50.19.30", "127.50.19.31"


@pytest.fixture
def sim() -> SimulatorThread:
    plugs = [
        PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", relay_state=0),
        PlugSpec(host=SLOW, port=9999, udp_port=None, alias="Slow", relay_state=0),
    ]
    with SimulatorThread(plugs) as running:
        yield running


def _disk_full(pid: int, full: bool) -> None:
    """Writes past a file's first byte fail (full) or work again; only the soft limit moves."""
    limit = 1 if full else resource.RLIM_INFINITY
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def _read_lines(listener: Headless) -> list[str]:
    lines: list[str] = []

    def read() -> None:
        assert listener.proc.stderr is not None
        lines.extend(listener.proc.stderr)  # the log is stderr; the thread ends with it

    threading.Thread(target=read, daemon=True).start()
    return lines


def _states(home: Path) -> list[str]:
    with sqlite3.connect(home / JOURNAL_NAME) as db:
        return [row[0] for row in db.execute("SELECT state FROM messages")]


def test_a_full_disk_is_said_once_counted_and_backed_off(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    listener = Headless(home)
    lines = _read_lines(listener)
    _disk_full(listener.proc.pid, True)
    done = [deliver(home, make_mail(f"!toggle {PLUG}"), f"{i}.full") for i in range(5)]
    time.sleep(3.0)  # 15 rounds of the folder at 0.2 s
    errors = [line for line in lines if "internal error" in line]
    assert len(errors) == 1, lines  # not 5 mails x 15 rounds
    assert "disk I/O error" in errors[0] or "full" in errors[0]
    assert not any(path.exists() for path in done)  # nothing lost: all wait in new/
    _disk_full(listener.proc.pid, False)
    wait_for(lambda: all(path.exists() for path in done), "the mails to run", timeout=60)
    code, _out, err = listener.stop()
    assert code == 0, err
    [summary] = [line for line in lines if "working again" in line]
    count = int(summary.split(" happened ")[1].split()[0])
    assert 2 <= count <= 12  # retried with a growing delay, not every 0.2 s
    assert len([line for line in lines if "internal error" in line]) == 1
    assert sim.plug(PLUG).relay_state == 1  # five toggles: each ran once
    assert _states(home) == ["done"] * 5
    assert "Traceback" not in err


def test_a_mail_that_ran_while_writes_failed_is_done_not_interrupted(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    sim.set_fault(SLOW, "drop")  # its one command takes the whole --timeout
    listener = Headless(home, "--timeout", "3")
    lines = _read_lines(listener)
    moved = deliver(home, make_mail(f"!on {SLOW}"), "1.slow")
    wait_for(lambda: _states(home) == ["running"], "the command to start")
    _disk_full(listener.proc.pid, True)  # the disk fills while it runs
    wait_for(moved.exists, "the mail to be moved")  # it finished (failed: no answer), replied
    assert len(sink.messages) == 1
    _disk_full(listener.proc.pid, False)
    code, _out, err = listener.stop()
    assert code == 0, err
    assert _states(home) == ["done"]
    again = Headless(home)
    assert again.stop()[0] == 0
    assert not any("interrupted" in line or "was running" in line for line in again.said)
    assert lines  # what it said is read to the end (no pipe left full)
