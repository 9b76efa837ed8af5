"""Faults: a listener killed while it checked a mail (nothing had run) handles that mail
again when it starts; one killed midway through a mail tells its sender what finished and
runs none of it again; a mail whose commands all finished is ``done`` even when the stop
came before the journal said so. Headless listeners (``--listen``) killed with SIGKILL,
simulated plugs, a real SMTP sink and a DNS server on loopback.

Plugs here live on 127.50.19.x.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers.dnsstub import DnsStub
from helpers.dovecot import ReplySink
from helpers.headless import Headless, deliver, wait_for
from helpers.mail import KEY_NAME, body, make_mail, replies, signed
from helpers.maildir import configure

from kshell.app.remote.journal import RERUNS, Journal
from kshell.app.remote.service import AUDIT_NAME, JOURNAL_NAME
from kshell.simulator import PlugSpec, SimulatorThread

FIRST, SECOND = "127.50.19.2", "127.50.19.3"


@pytest.fixture
def sim() -> SimulatorThread:
    plugs = [
        PlugSpec(host=FIRST, port=9999, udp_port=None, alias="Lamp", relay_state=1),
        PlugSpec(host=SECOND, port=9999, udp_port=None, alias="Fan", relay_state=0),
    ]
    with SimulatorThread(plugs) as running:
        yield running


def _states(home: Path) -> list[str]:
    path = home / JOURNAL_NAME
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT state FROM messages")]


def _finished(home: Path) -> str:
    with sqlite3.connect(home / JOURNAL_NAME) as db:
        row = db.execute("SELECT finished FROM messages").fetchone()
    return str(row[0] if row else "")


def test_a_mail_killed_while_being_checked_runs_after_the_restart(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    order = signed(private, make_mail(f"!off {FIRST}", proof=None, msgid="<checked@home.test>"))
    with DnsStub({KEY_NAME: record}, silent=True) as silent:  # the key lookup hangs
        configure(home, sink, f"dns = 127.0.0.1:{silent.port}\n")
        listener = Headless(home)
        deliver(home, order, "1.checked")
        wait_for(lambda: _states(home) == ["received"] and bool(silent.asked), "the DKIM check")
        listener.proc.kill()  # killed while the signature is being checked: nothing ran
        listener.proc.communicate(timeout=20)
    assert sim.plug(FIRST).relay_state == 1
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        again = Headless(home)
        done = home / "Maildir" / ".Executed" / "cur" / "1.checked:2,S"
        wait_for(done.exists, "the mail to be handled again")
        code, _out, err = again.stop()
    assert code == 0, err
    assert "nothing had run: it is handled again" in "".join(again.said)
    assert sim.plug(FIRST).relay_state == 0  # it ran, once
    assert _states(home) == ["done"]
    [reply] = replies(sink)
    assert "Lamp: off" in body(reply)


def test_a_mail_killed_midway_tells_its_sender_what_finished(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    sim.set_fault(SECOND, "drop")  # the Fan reads its order and never answers: the run hangs
    listener = Headless(home, "--timeout", "60")
    order = make_mail(
        f"!off {FIRST}\n!on {SECOND}\n!info {FIRST}", subject="evening", msgid="<mid@home.test>"
    )
    deliver(home, order, "1.midway")
    wait_for(lambda: "off " in _finished(home), "the first command to finish")
    listener.proc.kill()
    listener.proc.communicate(timeout=20)
    sim.clear_faults(SECOND)

    again = Headless(home)
    wait_for(lambda: len(sink.messages) == 1, "the notice to the sender")
    code, _out, err = again.stop()
    assert code == 0, err
    assert sim.plug(FIRST).relay_state == 0
    assert sim.plug(SECOND).relay_state == 0  # not run again
    [notice] = replies(sink)
    assert notice["To"] == "boss@home.test"
    assert notice["In-Reply-To"] == "<mid@home.test>"
    assert notice["Subject"] == "Re: evening"
    text = body(notice)
    assert f"Finished:\n| !off {FIRST}" in text
    assert f"Maybe started (check it):\n| !on {SECOND}" in text
    assert f"Not run:\n| !info {FIRST}" in text
    assert _states(home) == ["interrupted"]
    assert "finished: off 127.50.19.2" in (home / AUDIT_NAME).read_text()


def test_a_mail_whose_commands_all_finished_is_done_not_interrupted(tmp_path: Path) -> None:
    """Stopped after its last command, before ``done`` was written (a kill, or a write that
    failed on a full disk): every planned command is journaled as finished."""
    journal = Journal(tmp_path / "j.sqlite")
    try:
        for key, finished in (("mail:all", ["off a", "on b"]), ("mail:half", ["off a"])):
            journal.receive(key, None, None, "s")
            journal.plan(key, f"<{key}@x>", ["off a", "on b"])
            journal.set_state(key, "running", "proof", sender="boss@home.test")
            for command in finished:
                journal.finished_command(key, command)
        journal.receive("mail:checked", None, None, "s")
    finally:
        journal.close()
    reopened = Journal(tmp_path / "j.sqlite")
    try:
        outcomes = {s.entry.key: s.outcome for s in reopened.interrupted()}
        assert outcomes == {"mail:all": "done", "mail:half": "interrupted", "mail:checked": "rerun"}
        assert reopened.find("mail:all").state == "done"  # type: ignore[union-attr]
        assert reopened.find("mail:checked").state == "retry"  # type: ignore[union-attr]
        assert reopened.interrupted() == []
    finally:
        reopened.close()


def test_a_mail_that_stops_the_listener_again_and_again_is_given_up(tmp_path: Path) -> None:
    """A mail may be what kills the listener while it is checked: it is tried again
    RERUNS times, then never again (no endless crash loop under a service manager)."""
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.receive("mail:poison", "imap:h:u:INBOX:1:9", None, "s")
    finally:
        journal.close()
    outcomes = []
    for _ in range(RERUNS + 1):
        again = Journal(tmp_path / "j.sqlite")  # a restart after the stop
        try:
            outcomes += [s.outcome for s in again.interrupted()]
            entry = again.find("mail:poison")
            assert entry is not None
            if entry.state == "retry":
                again.reopen("mail:poison", "imap:h:u:INBOX:1:9")  # handed on: the stop again
        finally:
            again.close()
    assert outcomes == ["rerun"] * RERUNS + ["given up"]
    last = Journal(tmp_path / "j.sqlite")
    try:
        assert last.find("mail:poison").state == "failed"  # type: ignore[union-attr]
        assert last.interrupted() == []
    finally:
        last.close()
