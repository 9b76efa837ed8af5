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
from helpers.dovecot import ReplySink, free_port
from helpers.imap import audit, listen, until
from helpers.mail import SECRET, make_mail
from helpers.smtp_source import PLUG, configure, send

from kshell.app.remote.service import RemoteService
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


def test_a_flood_of_idle_connections_is_bounded_and_the_owner_still_gets_through(
    home: Path, sink: ReplySink
) -> None:
    """Each SMTP connection held a session (and a file descriptor) for its 60 s timeout, with no
    bound on how many: a stranger opening thousands ran the shell out of descriptors, and
    with them the plugs' connections. Connections over the bound are answered 421 at once
    and closed; once the flood goes, the owner's order gets through."""
    import socket

    port = free_port()
    configure(home, sink, port)
    greetings: list[bytes] = []

    def flood() -> list[socket.socket]:
        held = []
        for _ in range(120):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            greetings.append(conn.recv(512))
            held.append(conn)
        return held

    async def scenario(service: RemoteService) -> None:
        held = await asyncio.to_thread(flood)
        for conn in held:
            conn.close()
        code = pyotp.TOTP(SECRET).now()
        raw = make_mail(f"!auth {code}\n!off {PLUG}", proof=None)
        for _ in range(100):  # the listener sees the closes a moment later
            try:
                await asyncio.to_thread(send, port, raw)
                break
            except Exception:  # noqa: BLE001 - a 421 while the flood drains: try again
                await asyncio.sleep(0.05)
        await until(lambda: len(sink.messages) == 1, "the reply to the owner's order")

    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Fan", relay_state=1)
    with SimulatorThread([spec]) as sim:
        listen(home, scenario)
        assert sim.plug(PLUG).relay_state == 0
    busy = [g for g in greetings if g.startswith(b"421")]
    welcomed = [g for g in greetings if g.startswith(b"220")]
    assert len(welcomed) <= 32, len(welcomed)
    assert len(busy) == len(greetings) - len(welcomed), greetings[-1]
