"""Only orders are touched in a shared folder (an INBOX): personal mail, spam, kshell's own
replies and bounces stay where they are, unread, under their own names; only mail from a
configured sender with command lines is taken, and what was left is read once, not every
round. Over a Maildir top folder (maildir:PATH) and a real Dovecot INBOX.

Plugs here live on 127.50.19.x (20 and up).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from helpers.dovecot import Dovecot, ReplySink
from helpers.imap import configure as configure_imap
from helpers.imap import listen, until
from helpers.mail import make_mail
from helpers.maildir import Listener, configure, ran, run

from kshell.app.remote.service import RemoteService
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.19.20"
OUR_REPLY = (
    b"From: kshell@home.test\r\nTo: boss@home.test\r\nSubject: Re: plug\r\n"
    b"Auto-Submitted: auto-replied\r\nDate: Tue, 08 Dec 2026 04:00:00 +0000\r\n"
    b"Message-ID: <r1@home.test>\r\n\r\n> !off 127.50.19.20\r\n| Heater: off\r\n"
)


def _others() -> dict[str, bytes]:
    """What an INBOX holds beside orders; none of it is kshell's."""
    return {
        "personal": make_mail("dinner at 8?", sender="friend@elsewhere.test", proof=None),
        "spam": make_mail(f"!off {PLUG}\nBUY NOW", sender="spam@evil.test", proof=None),
        "owner-no-commands": make_mail("holiday photos soon"),
        "own-reply": OUR_REPLY,
        "bounce": make_mail(
            f"> !off {PLUG}", sender="MAILER-DAEMON@home.test", subject="Undelivered"
        ),
        "owner-auto-reply": make_mail(
            f"I am away.\n!off {PLUG}", headers="Auto-Submitted: auto-replied\n"
        ),
    }


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Heater", relay_state=1)]
    ) as running:
        yield running


def _snapshot(maildir: Path) -> dict[str, float]:
    return {
        f"{sub}/{e.name}": e.stat().st_mtime
        for sub in ("new", "cur")
        for e in os.scandir(maildir / sub)
    }


def test_a_shared_maildir_keeps_everything_but_the_orders(
    home: Path, sim: SimulatorThread, sink: ReplySink, tmp_path: Path
) -> None:
    inbox = tmp_path / "Mail"  # a mailbox's top folder: its INBOX
    for sub in ("tmp", "new", "cur"):
        (inbox / sub).mkdir(parents=True)
    configure(home, sink, extra=f"source = maildir:{inbox}\n")
    for i, (name, raw) in enumerate(_others().items()):
        # some unread in new/, some read in cur/ with their flags
        where = inbox / ("new" if i % 2 else "cur") / (f"{i}.{name}" + ("" if i % 2 else ":2,S"))
        where.write_bytes(raw)
    (inbox / "cur" / "9.unread:2,").write_bytes(make_mail("see you", sender="mum@else.test"))
    before = _snapshot(inbox)

    async def scenario(listener: Listener) -> None:
        name = f"{time.time():.0f}.order"
        (inbox / "new" / name).write_bytes(make_mail(f"!off {PLUG}"))
        listener.service.source.wake()
        done = inbox / ".Executed" / "cur" / f"{name}:2,S"
        for _ in range(1500):
            if done.exists():
                break
            await asyncio.sleep(0.01)
        assert done.exists(), listener.lines
        await asyncio.sleep(1.0)  # five more rounds of the folder
        screen = listener.service.source.screen
        assert screen is not None and screen.left == 7  # each read once, not every round

    listener = run(home, scenario)
    assert ran(listener) == [f"off {PLUG}"]
    assert sim.plug(PLUG).relay_state == 0
    assert _snapshot(inbox) == before  # the same files, names (flags) and times
    assert len(sink.messages) == 1  # the order's reply; nothing answered the rest

    async def again(listener: Listener) -> None:
        await asyncio.sleep(0.5)
        screen = listener.service.source.screen
        assert screen is not None and screen.left == 0  # the journal remembered them

    run(home, again)
    assert _snapshot(inbox) == before


def test_remote_test_warns_that_the_source_is_an_inbox(
    home: Path, sink: ReplySink, tmp_path: Path
) -> None:
    configure(home, sink, extra=f"source = maildir:{tmp_path / 'Mail'}\n")
    listener = Listener(home)
    steps = asyncio.run(listener.service.test())
    [warning] = [detail for label, _, detail in steps if label == "source: shared"]
    assert "INBOX" in warning and "dedicated folder" in warning
    configure(home, sink, extra=f"source = maildir:{tmp_path / 'Mail' / '.Orders'}\n")
    steps = asyncio.run(Listener(home).service.test())
    assert not [label for label, _, _ in steps if label == "source: shared"]


USERS = {"shared1": "pw1"}


@pytest.fixture(scope="module")
def dovecot() -> Dovecot:
    Dovecot.require()
    with Dovecot(users=USERS) as server:
        yield server


def _unseen(dovecot: Dovecot, user: str) -> int:
    imap = dovecot.client(user)
    try:
        imap.select("INBOX", readonly=True)
        status, data = imap.search(None, "UNSEEN")
        assert status == "OK"
        return len(data[0].split())
    finally:
        imap.logout()


def test_a_shared_imap_inbox_keeps_everything_but_the_orders(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "shared1"
    configure_imap(home, dovecot, user, sink, shared=True)
    others = _others()
    for raw in others.values():
        dovecot.append(user, raw)

    async def scenario(service: RemoteService) -> None:
        await asyncio.to_thread(dovecot.append, user, make_mail(f"!off {PLUG}"))
        await until(lambda: dovecot.count(user, "Executed") == 1, "the order to be moved")
        await asyncio.sleep(0.5)
        screen = service.source.screen
        assert screen is not None and screen.left == len(others)

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    assert dovecot.count(user) == len(others)  # all still in the INBOX
    assert _unseen(dovecot, user) == len(others)  # and still unread
    assert len(sink.messages) == 1
