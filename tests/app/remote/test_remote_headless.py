"""Remote mode as an operator runs it: ``python shell.py --listen`` (headless, stopped by a
signal, killed by a crash) and ``remote on`` at the interactive prompt.

Plugs here live on 127.50.4.x.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pexpect
import pytest
from helpers.dovecot import ReplySink
from helpers.headless import Headless, deliver, wait_for
from helpers.mail import body, make_mail, replies
from helpers.maildir import configure
from helpers.shell import ROOT, run_shell

from kshell.app.remote.service import AUDIT_NAME, JOURNAL_NAME
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.4.2"


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Lamp", relay_state=1)]
    ) as running:
        yield running


def journal_state(home: Path) -> list[tuple[str, str]]:
    path = home / JOURNAL_NAME
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, state FROM messages").fetchall()


def test_listen_headless_until_sigterm(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink)
    listener = Headless(home)
    done = deliver(home, make_mail("!off 127.50.4.2"), "1.headless")
    wait_for(done.exists, "the mail to be handled")
    code, out, err = listener.stop()
    assert code == 0, err
    assert "!off 127.50.4.2" in err and "Lamp: off" in err and "INFO remote: stopped" in err
    assert out == ""  # the log is stderr, for journald or a file
    assert sim.plug(PLUG).relay_state == 0
    assert "Lamp: off" in body(replies(sink)[0])


def test_two_listeners_never_share_one_journal(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    first = Headless(home)
    try:
        second = run_shell(home, "--listen", timeout=30)
        assert second.returncode != 0
        assert "another listener" in second.stderr and str(first.proc.pid) in second.stderr
    finally:
        assert first.stop()[0] == 0


def test_a_crash_while_running_is_reported_not_rerun(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    sim.set_fault(PLUG, "drop")  # the plug reads the order and never answers: the run hangs
    listener = Headless(home, "--timeout", "60")
    deliver(home, make_mail("!toggle 127.50.4.2", msgid="<crash@home.test>"), "1.crash")
    wait_for(lambda: [s for _, s in journal_state(home)] == ["running"], "running")
    listener.proc.kill()  # a crash between running and done
    listener.proc.communicate(timeout=20)
    sim.clear_faults(PLUG)

    again = Headless(home)
    done = home / "Maildir" / ".Executed" / "cur" / "1.crash:2,S"
    wait_for(done.exists, "the message to be moved")
    code, _out, err = again.stop()
    assert code == 0, err
    assert "was running when the listener stopped: not run again" in "".join(again.said)
    assert sim.plug(PLUG).relay_state == 1  # the toggle did not run a second time
    assert [s for _, s in journal_state(home)] == ["interrupted"]
    [told] = replies(sink)  # the sender is told the order stopped, and nothing runs again
    assert "Maybe started (check it):\n| !toggle 127.50.4.2" in body(told)
    audit = (home / AUDIT_NAME).read_text()
    assert '"verdict": "interrupted"' in audit


def test_remote_on_at_the_prompt_prints_each_mail_above_it(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    child = pexpect.spawn(
        sys.executable,
        [str(ROOT / "shell.py"), "--home", str(home)],
        cwd=str(ROOT),
        env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"},
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 160),
    )
    try:
        child.expect("kshell")
        child.sendline("remote on")
        child.expect("remote: on, listening on maildir")
        child.expect(r"kshell.*\[remote\]")  # the prompt says it listens
        deliver(home, make_mail("!off 127.50.4.2"), "1.prompt")
        child.expect("remote: mail from boss@home.test")
        child.expect("Lamp: off")
        child.sendline("remote status")
        child.expect("source +maildir")
        child.expect("journal +done 1")
        child.sendline("remote off")
        child.expect("remote: off")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert sim.plug(PLUG).relay_state == 0
    assert len(sink.messages) == 1
