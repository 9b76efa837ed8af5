"""The mail must be for us: To, Cc or Delivered-To names ``[remote] address`` (or, left
empty, reply_from), or a proven order runs nothing, is journaled and audited, and gets no
reply. Plugs here live on 127.50.1.x (the Maildir tests' range, one plug)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import PLUG, Listener, configure, ran, run

from kshell.app.remote.service import JOURNAL_NAME
from kshell.simulator import PlugSpec, SimulatorThread


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", relay_state=1)]
    ) as running:
        yield running


def _states(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / JOURNAL_NAME) as db:
        return db.execute("SELECT state, note FROM messages").fetchall()


@pytest.mark.parametrize(
    ("to", "headers"),
    [
        ("friend@elsewhere.test", ""),
        (None, ""),  # no To: at all
        ("Kshell <kshell@home.test.evil.test>", ""),  # a look-alike
        ('"kshell@home.test" <friend@elsewhere.test>', ""),  # the display name proves nothing
        ("friend@elsewhere.test", "Reply-To: kshell@home.test\n"),  # not a recipient header
    ],
    ids=["other", "none", "look-alike", "display-name", "reply-to"],
)
def test_a_proven_order_to_someone_else_runs_nothing(
    home: Path, sim: SimulatorThread, sink: ReplySink, to: str | None, headers: str
) -> None:
    configure(home, sink)
    raw = make_mail("!off Kettle\n!off 127.50.1.2", to=to, headers=headers)
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 1
    assert ran(listener) == []
    assert sink.messages == []  # no reply: it was not for us
    [(state, note)] = _states(home)
    assert state == "rejected" and "not addressed to kshell@home.test" in note
    [line] = listener.audit()
    assert "not addressed to" in line["verdict"] and line["outcome"] == "not run"


@pytest.mark.parametrize(
    ("to", "headers"),
    [
        ("Kshell <KSHELL@Home.Test>", ""),
        ("friend@elsewhere.test", "Cc: someone@else.test, kshell@home.test\n"),
        ("list@elsewhere.test", "Delivered-To: kshell@home.test\n"),
    ],
    ids=["to", "cc", "delivered-to"],
)
def test_an_order_addressed_to_us_runs(
    home: Path, sim: SimulatorThread, sink: ReplySink, to: str, headers: str
) -> None:
    configure(home, sink)
    raw = make_mail("!off 127.50.1.2", to=to, headers=headers)
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 0
    assert ran(listener) == ["off 127.50.1.2"]


def test_address_names_several_and_replaces_reply_from(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, extra="address = plugs@home.test, Orders@Home.test\n")
    to_reply_from = make_mail("!on 127.50.1.2", to="kshell@home.test")
    to_second = make_mail("!off 127.50.1.2", to="orders@home.test")

    async def scenario(listener: Listener) -> None:
        await listener.deliver(to_reply_from)  # reply_from is no longer an address of ours
        await listener.deliver(to_second)

    listener = run(home, scenario)
    assert ran(listener) == ["off 127.50.1.2"]
    assert sim.plug(PLUG).relay_state == 0


def test_a_malformed_address_setting_is_refused(home: Path, sink: ReplySink) -> None:
    from kshell.errors import UsageError

    configure(home, sink, extra="address = not-an-address\n")
    with pytest.raises(UsageError, match="address"):
        Listener(home)
