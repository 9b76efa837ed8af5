"""Remote mode with its own SMTP listener (aiosmtpd): mail delivered straight to the shell.

Plugs here live on 127.50.3.x.
"""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

import pyotp
import pytest
from helpers.dovecot import ReplySink, free_port
from helpers.imap import audit, listen, until
from helpers.mail import SECRET, body, make_mail, replies
from helpers.smtp_source import PLUG, configure, send

from kshell.app.remote.service import RemoteService
from kshell.simulator import PlugSpec, SimulatorThread


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Fan", relay_state=1)]
    ) as running:
        yield running


def test_mail_delivered_to_the_listener_switches_the_plug(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    port = free_port()
    configure(home, sink, port)
    code = pyotp.TOTP(SECRET).now()

    async def scenario(service: RemoteService) -> None:
        assert service.session.remote is service and service.running
        assert service.describe() == f"smtp 127.0.0.1:{port}"
        await asyncio.to_thread(send, port, make_mail(f"!auth {code}\n!off 127.50.3.2", proof=None))
        await until(lambda: len(sink.messages) == 1, "the reply")

    listen(home, scenario)
    assert "Fan: off" in body(replies(sink)[0])
    assert sim.plug(PLUG).relay_state == 0
    assert list((home / "Maildir" / ".Executed" / "cur").iterdir())  # kept, as processed mail


def test_authentication_results_sent_to_the_listener_are_not_trusted(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    port = free_port()
    configure(home, sink, port)

    async def scenario(service: RemoteService) -> None:
        # the sender wrote this header itself: no server of ours stands in between
        await asyncio.to_thread(send, port, make_mail("!off 127.50.3.2"))
        await until(lambda: len(audit(home)) == 1, "the audit line")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    assert audit(home)[0]["verdict"].startswith("rejected")


def test_a_mail_far_over_the_limit_is_refused_in_the_smtp_dialogue(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    port = free_port()
    configure(home, sink, port)

    async def scenario(service: RemoteService) -> None:
        with pytest.raises(smtplib.SMTPException) as err:
            await asyncio.to_thread(send, port, make_mail("!off 127.50.3.2\n" + "z" * 1_000_000))
        assert "552" in str(err.value) or "too" in str(err.value).lower()
        code = pyotp.TOTP(SECRET).now()
        await asyncio.to_thread(
            send, port, make_mail(f"!auth {code}\n!info 127.50.3.2", proof=None)
        )
        await until(lambda: len(sink.messages) == 1, "the next reply")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1


def test_a_port_in_use_is_reported_at_once(home: Path, sink: ReplySink) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        configure(home, sink, busy.getsockname()[1])

        async def scenario(service: RemoteService) -> None:
            raise AssertionError("should not start")

        from kshell.errors import KshellError

        with pytest.raises(KshellError) as err:
            listen(home, scenario)
        assert "cannot listen" in str(err.value)
