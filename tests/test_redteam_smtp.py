"""Red team, the SMTP listener (issue 9 class 11): a stranger who writes the owner's
address in From: passes the allowlist at DATA time, so each of their mails was written to
disk, judged, rejected, and kept in the processed folder for ever (64 KB a mail, no
limit). Mail that proves no sender (or cannot be read) is now deleted once journaled:
the journal and the audit log keep the record. Real SMTP over loopback, a simulated plug.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyotp
from dovecot import ReplySink, free_port
from test_remote_imap import audit, listen, until
from test_remote_maildir import SECRET, make_mail
from test_remote_smtp import PLUG, configure, send

from kshell.remote.service import RemoteService
from kshell.simulator import PlugSpec, SimulatorThread


def test_forged_mail_is_not_kept_but_proven_mail_is(home: Path, sink: ReplySink) -> None:
    port = free_port()
    configure(home, sink, port)
    junk = (b"x" * 70 + b"\n") * 500  # 35 KB

    async def scenario(service: RemoteService) -> None:
        for i in range(20):  # the owner's address, no proof
            raw = make_mail(f"!off {PLUG} {i}\n{junk.decode()}", proof=None)
            await asyncio.to_thread(send, port, raw)
        unreadable = make_mail("!x", proof=None, headers="Content-Type: text/plain; charset=idna\n")
        await asyncio.to_thread(send, port, unreadable)
        code = pyotp.TOTP(SECRET).now()
        await asyncio.to_thread(send, port, make_mail(f"!auth {code}\n!off {PLUG}", proof=None))
        await until(lambda: len(sink.messages) == 1, "the reply to the real order")

    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Fan", relay_state=1)
    with SimulatorThread([spec]) as sim:
        listen(home, scenario)
        assert sim.plug(PLUG).relay_state == 0
    maildir = home / "Maildir"
    kept = [p for sub in ("new", "cur", "tmp") for p in (maildir / sub).iterdir()]
    kept += list((maildir / ".Executed" / "cur").iterdir())
    assert len(kept) == 1, len(kept)  # the proven order only
    assert len(audit(home)) >= 21  # every forged mail is on record


def test_the_listener_answers_strangers_as_it_answers_the_allowed(
    home: Path, sink: ReplySink
) -> None:
    """550 for a From: not on the allowlist and 250 for one on it told a stranger who may
    send orders (an allowlist oracle, one address at a time). Both are answered alike; the
    stranger's mail is dropped unwritten."""
    import smtplib

    port = free_port()
    configure(home, sink, port)
    answers: list[str] = []

    def try_send(raw: bytes) -> None:
        try:
            send(port, raw)
            answers.append("accepted")
        except smtplib.SMTPException as exc:
            answers.append(f"refused {exc}")

    async def scenario(service: RemoteService) -> None:
        await asyncio.to_thread(try_send, make_mail("hi", proof=None, sender="nobody@home.test"))
        await asyncio.to_thread(try_send, make_mail("hi", proof=None))  # boss, unproven
        await until(lambda: len(audit(home)) == 1, "the unproven mail's audit line")

    listen(home, scenario)
    assert answers[0] == answers[1], answers
    maildir = home / "Maildir"
    assert not [p for p in maildir.rglob("*") if p.is_file() and p.parent.name in ("new", "cur")]
