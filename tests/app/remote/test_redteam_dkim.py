"""Red team, proofs (issue 9 class 3): a DKIM signature is valid for bytes that two parsers
read differently, and for more than one spelling of its own ``b=``.

- Python's parser ends a line at a bare CR, dkimpy only at LF: ``X: y\\r\\r\\n`` ends the
  header section for one and not the other, and ``X: y\\rDate: ...`` is two headers for
  one and one for the other. A stranger holding any signed mail of the owner's (an order
  that ran, or any mail at all) added fresh Date/Message-ID and command lines of their own.
- dkimpy's RSA check takes the signature as a number and does not bound its length:
  ``AAAA`` in front of ``b=`` (three zero bytes) verifies too, so "one signature runs once"
  keyed on the text of ``b=`` let a replay with one more blank line at the end of the body
  (a new journal key; DKIM ignores trailing blank lines) run again.

Over the Maildir source with a simulated plug, a real SMTP sink and a DNS server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate, make_msgid
from pathlib import Path

import pytest
from helpers.dnsstub import DnsStub
from helpers.dovecot import ReplySink
from helpers.mail import KEY_NAME, make_mail, signed
from helpers.maildir import PLUG, Listener, configure, ran, run

from kshell.simulator import PlugSpec, SimulatorThread


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as running:
        yield running


def _fresh() -> bytes:
    return f"Date: {formatdate()}\rMessage-ID: {make_msgid(domain='home.test')}".encode()


def test_a_signed_mail_read_two_ways_runs_none_of_the_strangers_lines(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    # any mail the owner signed, old, with no order in it
    letter = signed(private, make_mail("see you at 8", proof=None, date=formatdate(1e9)))
    head, _, rest = letter.partition(b"\r\nFrom: ")
    # Python: X-A, Date, Message-ID (fresh), From; then a blank line; the rest is "body".
    # dkimpy: X-A, From, X-B, X-C, the signed headers; the signed body.
    forged = (
        b"X-A: 1\r" + _fresh() + b"\r\nFrom: " + rest.partition(b"\r\n")[0] + b"\r\n"
        b"X-B: 2\r\r\n"
        b"X-C: 3\r!off " + PLUG.encode() + b"\r\n" + head + b"\r\n" + rest.partition(b"\r\n")[2]
    )
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        listener = run(home, lambda listener: listener.deliver(forged))
    assert sim.plug(PLUG).relay_state == 1, listener.audit()
    assert ran(listener) == [] and sink.messages == []


def test_a_signature_spelled_another_way_is_the_same_signature(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    order = signed(private, make_mail(f"!toggle {PLUG}", proof=None))
    again = order.replace(b" b=", b" b=AAAA", 1) + b"\r\n"  # zero bytes in front; a blank line

    async def scenario(listener: Listener) -> None:
        await listener.deliver(order)
        await listener.deliver(again)

    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # toggled once, not twice
    assert ran(listener) == [f"toggle {PLUG}"]
    assert len(sink.messages) == 1


def test_the_same_forgery_through_a_real_imap_server_runs_nothing(
    tmp_path: Path, dkim_key: tuple[bytes, bytes], sink: ReplySink
) -> None:
    """Over a real IMAP server (Dovecot ends lines at a bare CR when it stores the mail, so
    there the forgery fails DKIM before the listener's own check): nothing runs either way."""
    import asyncio

    from helpers.dovecot import Dovecot
    from helpers.imap import audit, configure, listen, until

    Dovecot.require()
    private, record = dkim_key
    letter = signed(private, make_mail("see you at 8", proof=None, date=formatdate(1e9)))
    head, _, rest = letter.partition(b"\r\nFrom: ")
    imap_plug = "127.50.2.2"
    forged = (
        b"X-A: 1\r" + _fresh() + b"\r\nFrom: " + rest.partition(b"\r\n")[0] + b"\r\n"
        b"X-B: 2\r\r\n"
        b"X-C: 3\r!off "
        + imap_plug.encode()
        + b"\r\n"
        + head
        + b"\r\n"
        + rest.partition(b"\r\n")[2]
    )
    home = tmp_path / "home"
    spec = PlugSpec(host=imap_plug, port=9999, udp_port=None, alias="Heater", relay_state=1)
    with (
        Dovecot(users={"red": "team%"}) as server,
        DnsStub({KEY_NAME: record}) as dns,
        SimulatorThread([spec]) as plugs,
    ):
        configure(home, server, "red", sink, f"dns = 127.0.0.1:{dns.port}\n")

        async def scenario(_service: object) -> None:
            await asyncio.to_thread(server.append, "red", forged)
            await until(lambda: len(audit(home)) == 1, "the audit line")

        listen(home, scenario)
        assert plugs.plug(imap_plug).relay_state == 1
    assert sink.messages == [] and audit(home)[0]["outcome"] == "not run"


def test_a_pass_for_a_weak_signature_beside_a_failing_strong_one_proves_nothing(
    dkim_key: tuple[bytes, bytes],
) -> None:
    """The server's ``dkim=pass header.d=home.test`` may be for the signature that does not
    cover Date while the one that does fails: an old order with a new Date (and so a new
    journal key) passed on the server's word. With any weak aligned signature beside it,
    the listener checks the signatures itself."""
    from email import message_from_bytes

    import dkim

    from kshell.app.remote.trust import judge

    private, record = dkim_key
    raw = make_mail(f"!off {PLUG}", proof=None, date=formatdate(1e9))
    weak = dkim.sign(raw, b"sel", b"home.test", private, include_headers=[b"from", b"message-id"])
    both = signed(private, weak + raw)
    old_date = formatdate(1e9).encode()
    replayed = both.replace(b"Date: " + old_date, b"Date: " + formatdate().encode())
    replayed = b"Authentication-Results: mx.home.test; dkim=pass header.d=home.test\r\n" + replayed
    verdict = judge(
        message_from_bytes(replayed),
        replayed,
        senders={"boss@home.test": "control"},
        authserv_id="mx.home.test",
        dnsfunc=lambda name, timeout=5: record,
    )
    assert not verdict.trusted, verdict


@pytest.mark.parametrize(
    "extra",
    [
        b"FROM: Boss <boss@home.test>\r\n",  # another case
        b"from : Boss <boss@home.test>\r\n",  # a space before the colon
        b"Message-Id: <new@home.test>\r\n",
        b"DATE:\r\n " + formatdate().encode() + b"\r\n",  # folded
        b"Subject\t: x\r\n",
        b"X-Pad: 1\rDate: " + formatdate().encode() + b"\r\n",  # bare CR
    ],
)
def test_a_second_copy_in_any_spelling_is_refused_on_its_form(extra: bytes) -> None:
    from kshell.app.remote.mailparse import parse_mail
    from kshell.app.remote.sources.base import Incoming

    async def finish() -> None:
        return None

    raw = extra + make_mail(f"!off {PLUG}")
    mail = parse_mail(Incoming(raw, len(raw), True, None, "test", finish))
    assert mail.refusal is not None


def test_an_oversized_signature_costs_no_lookup_and_no_big_number(
    dkim_key: tuple[bytes, bytes],
) -> None:
    """dkimpy turns ``b=`` into a number byte by byte (quadratic): a 45 KB ``b=`` cost a
    quarter of a second per signature. No key is longer than 8192 bits (1,366 characters)."""
    from email import message_from_bytes

    from kshell.app.remote.trust import judge

    private, record = dkim_key
    order = signed(private, make_mail(f"!off {PLUG}", proof=None))
    import re

    # the b= value runs to the end of the DKIM-Signature header (its folded lines included)
    huge = re.sub(
        rb" b=[A-Za-z0-9+/=\s]+?\r\n(?=\S)", b" b=" + b"AAAA" * 15_000 + b"\r\n", order, 1
    )
    assert len(huge) > 60_000
    asked: list[str] = []

    def dns(name: str, timeout: float = 5) -> bytes:
        asked.append(name)
        return record

    verdict = judge(
        message_from_bytes(huge),
        huge,
        senders={"boss@home.test": "control"},
        authserv_id="",
        dnsfunc=dns,
    )
    assert not verdict.trusted and asked == []


def test_a_flood_of_unproven_mail_does_not_shut_the_owners_signature_out(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    """Past ``unproven_per_hour`` no key is looked up (so junk costs no DNS), and the owner's
    DKIM-only order (no server of ours wrote Authentication-Results) was refused with the
    stranger's junk. A key that proved a sender before still verifies it then."""
    private, record = dkim_key
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"unproven_per_hour = 3\ndns = 127.0.0.1:{dns.port}\n")

        async def scenario(listener: Listener) -> None:
            await listener.deliver(signed(private, make_mail(f"!on {PLUG}", proof=None)))
            for i in range(4):  # a stranger claiming the owner's address: no proof at all
                await listener.deliver(make_mail(f"!off {PLUG} {i}", proof=None))
            await listener.deliver(signed(private, make_mail(f"!off {PLUG}", proof=None)))

        listener = run(home, scenario)
        assert len(dns.asked) == 1  # the first order's lookup; the second used its key
    assert sim.plug(PLUG).relay_state == 0
    assert ran(listener) == [f"on {PLUG}", f"off {PLUG}"]


def test_replays_of_a_signed_order_do_not_use_up_the_owners_rate(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    """A stranger holding one old signed mail of the owner's replays it with a blank line
    more each time (a new journal key, the same signature): each was refused as too old,
    with a reply, and counted against the owner's ``rate_per_hour``, until the owner's next
    real order was refused. A signature is now settled before the rate and the age: the
    first copy is answered once, the others run nothing, get no reply and cost the owner
    nothing."""
    private, record = dkim_key
    old = signed(private, make_mail(f"!toggle {PLUG}", proof=None, date=formatdate(1e9)))
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"rate_per_hour = 3\ndns = 127.0.0.1:{dns.port}\n")

        async def scenario(listener: Listener) -> None:
            for i in range(6):
                await listener.deliver(old + b"\r\n" * i)
            await listener.deliver(signed(private, make_mail(f"!off {PLUG}", proof=None)))

        listener = run(home, scenario)
    assert ran(listener) == [f"off {PLUG}"]
    assert len(sink.messages) == 2  # "too old" once, then the real order's transcript
