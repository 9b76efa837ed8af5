"""Mails side by side through a real IMAP server (Dovecot): a mail finished while the
listener idles is moved at once (not at the next IDLE refresh), the owner's order is not
held by a reader's long mail, and stop(finish=True) lets the mail in hand end and move.

The plug lives on 127.50.29.20.
"""

from __future__ import annotations

import asyncio
import email
import time
from pathlib import Path

import pytest
from helpers.dovecot import Dovecot, ReplySink
from helpers.imap import LINES, configure, listen, until
from helpers.mail import body, make_mail

from kshell.app.remote.service import RemoteService
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.29.20"
USERS = {f"bounds{i}": f"pw{i}" for i in range(3)}


@pytest.fixture(scope="module")
def dovecot() -> Dovecot:
    Dovecot.require()
    with Dovecot(users=USERS) as server:
        yield server


@pytest.fixture
def sim() -> SimulatorThread:
    spec = PlugSpec(PLUG, udp_port=None, alias="Kettle", model="HS110(EU) 2.0", relay_state=1)
    with SimulatorThread([spec]) as running:
        yield running


def _replied(sink: ReplySink, msgid: str) -> bool:
    return any(email.message_from_bytes(m)["In-Reply-To"] == msgid for m in sink.messages)


def test_the_owners_order_by_imap_runs_and_moves_while_anothers_mail_runs(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "bounds0"
    configure(home, dovecot, user, sink, extra="")
    with (home / "kshell.ini").open("a") as config:
        config.write("helper@home.test = control\n")  # may reach a plug by address
    slow = make_mail(
        f"!emeter watch {PLUG} --duration 4\n" * 2,
        sender="Helper <helper@home.test>",
        msgid="<slow@home.test>",
    )
    seen: dict[str, float] = {}

    async def scenario(service: RemoteService) -> None:
        await asyncio.to_thread(dovecot.append, user, slow)
        await until(lambda: any("mail from helper" in ln for ln in LINES), "the watch")
        started = time.monotonic()
        await asyncio.to_thread(
            dovecot.append, user, make_mail(f"!off {PLUG}", msgid="<owner@home.test>")
        )
        await until(lambda: _replied(sink, "<owner@home.test>"), "the owner's reply")
        # moved at once, although the reader's mail still runs and the listener idles
        await until(lambda: dovecot.count(user, "Executed") == 1, "the owner's move")
        seen["owner"] = time.monotonic() - started
        seen["helper_still_running"] = float(not _replied(sink, "<slow@home.test>"))
        await until(lambda: dovecot.count(user, "Executed") == 2, "the helper's move")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    assert seen["owner"] < 4.0
    assert seen["helper_still_running"] == 1.0


def test_stop_with_finish_by_imap_lets_the_mail_in_hand_end_and_move(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "bounds1"
    configure(home, dovecot, user, sink)
    raw = make_mail(f"!emeter watch {PLUG} --duration 1.5\n!off {PLUG}", msgid="<last@home.test>")

    async def scenario(service: RemoteService) -> None:
        await asyncio.to_thread(dovecot.append, user, raw)
        await until(lambda: any("mail from boss" in ln for ln in LINES), "the run")
        await service.stop(finish=True)
        assert dovecot.count(user, "Executed") == 1  # moved before stop returned
        assert dovecot.count(user) == 0

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    [reply] = [email.message_from_bytes(m) for m in sink.messages]
    assert f"> !off {PLUG}" in body(reply)
