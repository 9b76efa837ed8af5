"""Remote mode against a real IMAP server: Debian's Dovecot on 127.0.0.1 (started by the
test with a throwaway config), aiosmtpd receiving the replies, a simulated plug on 127.50.2.x.

Mail is delivered the way a mail server does it, by APPEND into the mailbox; the listener
learns of it through IDLE.
"""

from __future__ import annotations

import asyncio
import email
import re
from pathlib import Path

import pytest
from helpers.dovecot import Dovecot, ReplySink
from helpers.imap import audit, configure, listen, until
from helpers.mail import body, make_mail
from helpers.shell import run_shell, write_config

from kshell.app.remote.service import RemoteService
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.2.2"
USERS = {f"user{i}": f"pw{i}%" for i in range(8)}  # a % in the password, as real ones have


@pytest.fixture(scope="module")
def dovecot() -> Dovecot:
    Dovecot.require()
    with Dovecot(users=USERS) as server:
        yield server


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Heater", relay_state=1)]
    ) as running:
        yield running


def test_trusted_mail_by_imap_switches_the_plug_and_is_moved(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user0"
    configure(home, dovecot, user, sink)
    dovecot.append(user, make_mail("!on 127.50.2.2", msgid="<backlog@home.test>"))  # waiting

    async def scenario(service: RemoteService) -> None:
        await until(lambda: len(sink.messages) == 1, "the backlog reply")
        await asyncio.to_thread(
            dovecot.append, user, make_mail("!off 127.50.2.2", msgid="<idle@home.test>")
        )
        await until(lambda: len(sink.messages) == 2, "the reply")
        await until(lambda: dovecot.count(user, "Executed") == 2, "the move")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    assert dovecot.count(user) == 0
    reply = email.message_from_bytes(sink.messages[1])
    assert reply["In-Reply-To"] == "<idle@home.test>"
    assert "> !off 127.50.2.2\n| Heater: off" in body(reply)


def test_forged_mail_by_imap_runs_nothing_and_is_not_answered(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user1"
    configure(home, dovecot, user, sink)
    dovecot.append(
        user,
        make_mail(
            "!off 127.50.2.2",
            sender="boss@home.test",
            proof="dkim=pass header.d=home.test",
            headers="X-Spoof: yes\n",
        ).replace(b"mx.home.test", b"mx.evil.test"),
    )

    async def scenario(service: RemoteService) -> None:
        await until(lambda: dovecot.count(user, "Executed") == 1, "the move")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    assert audit(home)[0]["verdict"].startswith("rejected")


def test_the_same_message_delivered_twice_by_imap_runs_once(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user2"
    configure(home, dovecot, user, sink)
    raw = make_mail("!toggle 127.50.2.2", msgid="<dup@home.test>")
    dovecot.append(user, raw)
    dovecot.append(user, raw)  # a second UID, the same Message-ID

    async def scenario(service: RemoteService) -> None:
        await until(lambda: dovecot.count(user, "Executed") == 2, "both moved")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # toggled once
    assert len(sink.messages) == 1
    # the journal sees the copy (a duplicate) as it arrives, before the first has run
    assert sorted(a["verdict"].split(":")[0] for a in audit(home)) == ["duplicate", "trusted"]


def test_a_huge_mail_by_imap_is_refused_with_a_reply(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user3"
    configure(home, dovecot, user, sink)
    dovecot.append(user, make_mail("!off 127.50.2.2\n" + ("y" * 998 + "\n") * 10_000))

    async def scenario(service: RemoteService) -> None:
        await until(lambda: len(sink.messages) == 1, "the reply")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    assert "the limit is 65536" in body(email.message_from_bytes(sink.messages[0]))


def test_listener_reconnects_when_the_imap_server_restarts(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    Dovecot.require()
    with Dovecot(users={"kshell": "secret"}) as server:
        configure(home, server, "kshell", sink)

        async def scenario(service: RemoteService) -> None:
            await asyncio.to_thread(server.append, "kshell", make_mail("!off 127.50.2.2"))
            await until(lambda: len(sink.messages) == 1, "the first reply")
            await asyncio.to_thread(server.restart)
            await asyncio.to_thread(server.append, "kshell", make_mail("!on 127.50.2.2"))
            await until(lambda: len(sink.messages) == 2, "the reply after the restart")

        lines = listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    assert any("reconnecting" in line for line in lines), lines
    assert any("reconnected" in line for line in lines)


def test_without_idle_the_listener_polls(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    Dovecot.require()
    with Dovecot(capabilities="IMAP4rev1 LITERAL+ UIDPLUS") as server:  # no IDLE, no MOVE
        configure(home, server, "kshell", sink)
        server.append("kshell", make_mail("!off 127.50.2.2"))

        async def scenario(service: RemoteService) -> None:
            await until(lambda: len(sink.messages) == 1, "the first reply")
            await asyncio.to_thread(server.append, "kshell", make_mail("!on 127.50.2.2"))
            await until(lambda: len(sink.messages) == 2, "the reply found by polling")
            await until(lambda: server.count("kshell", "Executed") == 2, "COPY + EXPUNGE")

        listen(home, scenario)
        assert server.count("kshell") == 0
        steps = run_shell(home, "-c", "remote test")
    assert "polling every" in steps.stdout
    assert sim.plug(PLUG).relay_state == 1


def test_remote_test_reports_each_step(home: Path, dovecot: Dovecot, sink: ReplySink) -> None:
    configure(home, dovecot, "user4", sink)
    good = run_shell(home, "-c", "remote test")
    assert good.returncode == 0, good.stderr
    for step in (
        "source: connect",
        "source: auth",
        "source: folder",
        "reply: connect",
        "reply: EHLO",
    ):
        assert step in good.stdout
    assert "IDLE" in good.stdout and "FAILED" not in good.stdout
    assert USERS["user4"] not in good.stdout  # never shows the password

    write_config(
        home,
        extra=(
            f"\n[remote]\nsource = imap://user4:wrong@127.0.0.1:{dovecot.port}/INBOX\n"
            "reply = smtp://127.0.0.1:1\n[senders]\nboss@home.test = read\n"
        ),
    )
    bad = run_shell(home, "-c", "remote test")
    assert bad.returncode == 1
    assert re.search(r"source: auth +FAILED .*password refused for user4", bad.stdout)
    assert re.search(r"reply: connect +FAILED .*cannot connect", bad.stdout)


def test_a_squatted_message_id_by_imap_does_not_drop_the_real_order(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user6"
    configure(home, dovecot, user, sink)
    squat = make_mail("hi", sender="stranger@evil.test", proof=None, msgid="<order-77@home.test>")
    dovecot.append(user, squat)  # first, with the real order's Message-ID
    dovecot.append(user, make_mail("!off 127.50.2.2", msgid="<order-77@home.test>"))

    async def scenario(service: RemoteService) -> None:
        await until(lambda: dovecot.count(user, "Executed") == 2, "both moved")
        await until(lambda: len(sink.messages) == 1, "the reply")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    [order] = [a for a in audit(home) if a["command"]]
    assert order["sender"] == "boss@home.test" and order["outcome"] == "ok"


def test_poison_mail_by_imap_is_moved_once_and_never_parsed_again(
    home: Path, dovecot: Dovecot, sim: SimulatorThread, sink: ReplySink
) -> None:
    user = "user7"
    configure(home, dovecot, user, sink)
    poison = make_mail(
        "!off 127.50.2.2",
        headers="Content-Type: text/plain; charset=idna\nContent-Transfer-Encoding: 8bit\n",
    )
    dovecot.append(user, poison)
    dovecot.append(user, poison)  # a second copy: known by its bytes, not parsed
    dovecot.append(user, make_mail("!off 127.50.2.2"))

    async def scenario(service: RemoteService) -> None:
        await until(lambda: dovecot.count(user, "Executed") == 3, "all three moved")
        await until(lambda: len(sink.messages) == 1, "the reply to the real order")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    verdicts = [a["verdict"].split(":")[0] for a in audit(home)]
    assert verdicts == ["unreadable", "trusted"]
