"""A refused TOTP code is explained to its owner, and to nobody else.

A code 95 s old, or a second mail inside one 30 s step, used to be refused with no reply at
all: the owner saw nothing happen. Now the sender's configured address gets one short line
saying why (at most one per ``totp_notice_minutes``), while a forger gains nothing: the
notice never goes to Reply-To or to the From: as written, never carries the code expected
or the secret, never relays the forger's subject, and a mail whose signature of the
owner's domain fails gets none.

Over the Maildir source with a simulated plug and a real SMTP sink; the plug lives on
127.50.19.3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from helpers.dnsstub import DnsStub
from helpers.dovecot import ReplySink
from helpers.mail import KEY_NAME, SECRET, body, make_mail, replies, signed
from helpers.maildir import Listener, configure, ran, run

from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.19.3"
OWNER = "boss@home.test"


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", relay_state=1)
    with SimulatorThread([spec]) as running:
        yield running


def _code(age_s: float = 0.0) -> str:
    return pyotp.TOTP(SECRET).at(time.time() - age_s)


def _order(code: str, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
    kwargs.setdefault("proof", None)
    return make_mail(f"!auth {code}\n!off {PLUG}", **kwargs)


def _deliver(*mails: bytes):  # type: ignore[no-untyped-def]
    async def scenario(listener: Listener) -> None:
        for raw in mails:
            await listener.deliver(raw)

    return scenario


def test_a_stale_code_gets_the_reason_at_the_owners_address_only(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    stale = _order(
        _code(95),
        sender="Boss <Boss@Home.Test>",
        subject="URGENT: your account is closed, see evil.test",
        headers="Reply-To: eve@evil.test\nCc: eve@evil.test\n",
    )
    listener = run(home, _deliver(stale))
    assert sim.plug(PLUG).relay_state == 1 and ran(listener) == []
    [notice] = replies(sink)
    assert notice["To"] == OWNER  # the configured address: no Reply-To, no spelling of From
    assert "evil" not in notice.as_string()  # the forger's subject is not relayed
    assert body(notice) == "kshell: code expired: send a fresh one. Nothing was run.\n"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert "expired" in listener.audit()[-1]["verdict"]


def test_a_reused_code_says_wait_for_the_next_one(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    code = _code()
    listener = run(home, _deliver(_order(code), _order(code)))
    assert ran(listener) == [f"off {PLUG}"]  # the first use ran
    transcript, notice = (body(m) for m in replies(sink))
    assert "Kettle: off" in transcript
    assert notice == "kshell: code already used: wait for the next one. Nothing was run.\n"
    assert code not in notice and SECRET not in notice


def test_a_second_refusal_inside_the_window_sends_nothing_more(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    right = pyotp.TOTP(SECRET).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    listener = run(home, _deliver(_order(_code(95)), _order(wrong), _order(_code(120))))
    assert ran(listener) == [] and sim.plug(PLUG).relay_state == 1
    [notice] = replies(sink)
    assert "expired" in body(notice)
    verdicts = [a["verdict"] for a in listener.audit()]
    assert [v.startswith("rejected") for v in verdicts] == [True, True, True]


def test_a_wrong_code_never_tells_the_right_one(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    right = pyotp.TOTP(SECRET).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    run(home, _deliver(_order(wrong)))
    [notice] = replies(sink)
    text = notice.as_string()
    assert body(notice).startswith("kshell: wrong code")
    assert right not in text and wrong not in text and SECRET not in text


def test_a_forged_from_with_a_failing_signature_gets_nothing(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    # the owner's signed mail, its body changed on the way: the signature fails
    forged = signed(private, _order(_code(95))).replace(b"!off", b"!on ", 1)
    # a From: that only looks like the owner's: not on the allowlist at all
    lookalike = _order(_code(95), sender='"boss@home.test" <boss@home.test.evil.test>')
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        listener = run(home, _deliver(forged, lookalike))
    assert ran(listener) == [] and sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    assert [a["outcome"] for a in listener.audit()] == ["not run", "not run"]


def test_an_automated_mail_with_a_code_gets_no_notice(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    run(home, _deliver(_order(_code(95), headers="Auto-Submitted: auto-replied\n")))
    assert sink.messages == []


def test_a_locked_code_is_explained_once(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink, "totp_notice_minutes = 1\n")
    right = pyotp.TOTP(SECRET).now()
    wrongs = [f"{(int(right) + i) % 1_000_000:06d}" for i in range(1, 7)]
    listener = run(home, _deliver(*(_order(w) for w in wrongs)))
    assert ran(listener) == []
    assert len(sink.messages) == 1  # five wrong codes lock; the owner hears once
    assert any("TOTP locked for boss@home.test" in line for line in listener.lines)


def test_the_notice_window_opens_again_and_survives_a_clock_set_back(tmp_path: Path) -> None:
    from kshell.app.remote.journal import Journal

    journal = Journal(tmp_path / "journal.sqlite")
    try:
        assert journal.code_notice_due(OWNER, 600)
        assert not journal.code_notice_due(OWNER, 600)
        assert journal.code_notice_due("reader@home.test", 600)  # per sender
        journal.db.execute("UPDATE code_notices SET at = at - 601 WHERE sender = ?", (OWNER,))
        assert journal.code_notice_due(OWNER, 600)  # the window has passed
        # the clock went back a day after the last notice: it no longer shuts the owner out
        journal.db.execute("UPDATE code_notices SET at = at + 86400 WHERE sender = ?", (OWNER,))
        assert journal.code_notice_due(OWNER, 600)
        assert not journal.code_notice_due(OWNER, 600)
    finally:
        journal.close()
