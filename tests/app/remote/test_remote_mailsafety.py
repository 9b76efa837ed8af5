"""Remote mode under attack, the mail itself (issue 9): poison mail, replies that could become
orders or headers, reply loops, and what the SMTP listener keeps.

Over the Maildir source and the SMTP listener with simulated plugs on 127.50.6.x, and a real
SMTP server for the replies; the mail parser is fuzzed with hypothesis.
"""

from __future__ import annotations

import asyncio
import email
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from helpers.dovecot import ReplySink, free_port
from helpers.imap import audit, listen, until
from helpers.mail import SECRET, answers, body, code_notices, make_mail, replies
from helpers.maildir import Listener, configure, run
from helpers.shell import write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kshell.app.remote.body import Unreadable, parse_orders
from kshell.app.remote.mailparse import automated, parse_mail
from kshell.app.remote.reply import ReplyError, build_reply
from kshell.app.remote.service import JOURNAL_NAME, RemoteService
from kshell.app.remote.sources.base import Incoming
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.6.2"
FORGED = "!reboot all --yes #"  # what a plug called itself


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Lamp", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as running:
        yield running


def journal_states(home: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(home / JOURNAL_NAME) as db:
        return [row[0] for row in db.execute("SELECT state FROM messages ORDER BY received")]


# -- 6. poison mail --------------------------------------------------------------------------------


def nested(depth: int, head: bytes | None = None) -> bytes:
    if head is None:
        head = make_mail("", headers="").partition(b"\r\n\r\n")[0]
    parts = b""
    for i in range(depth, 0, -1):
        parts = (
            f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
            + parts
            + f"\r\n--b{i}--\r\n".encode()
        )
    return head + b"\r\nMIME-Version: 1.0\r\n" + parts


def charset_mail(charset: str) -> bytes:
    return make_mail(
        "!off 127.50.6.2\n\xff",
        headers=f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n",
    ).replace(b"\xc3\xbf", b"\xff")


def test_poison_mail_is_journaled_moved_and_never_parsed_again(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "max_message_bytes = 200000\n")  # the nesting fits in one mail
    poison = [
        charset_mail("idna"),
        charset_mail("undefined"),
        charset_mail("punycode"),
        nested(1000),
    ]

    async def scenario(listener: Listener) -> None:
        started = time.process_time()
        for raw in poison:
            await listener.deliver(raw)  # returns once the mail left the inbox
        await listener.deliver(poison[-1])  # the same bytes again: not parsed again
        assert time.process_time() - started < 3.0
        await listener.deliver(make_mail(f"!off {PLUG}"))  # still listening, still sane

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    lines = listener.audit()
    assert [a["verdict"].split(":")[0] for a in lines[:4]] == ["unreadable"] * 4
    assert [a["command"] for a in lines[4:]] == [f"off {PLUG}"]  # the repeat left no line
    assert journal_states(home) == ["unreadable"] * 4 + ["done"]
    assert len(sink.messages) == 1
    assert not list((home / "Maildir" / "new").iterdir())


@settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.one_of(
        st.binary(max_size=3000),
        st.builds(
            lambda headers, charset, cte, depth, text: (
                (
                    "".join(f"{n}: {v}\r\n" for n, v in headers)
                    + f"Content-Type: text/plain; charset={charset}\r\n"
                    + f"Content-Transfer-Encoding: {cte}\r\n\r\n{text}"
                ).encode("utf-8", "surrogatepass")[:60000]
                + (nested(depth, b"X-Fuzz: 1") if depth else b"")
            ),
            st.lists(
                st.tuples(
                    st.sampled_from(
                        ["From", "Subject", "Date", "Message-ID", "References", "Precedence"]
                    ),
                    st.text(max_size=80),
                ),
                max_size=8,
            ),
            st.sampled_from(
                ["utf-8", "idna", "undefined", "punycode", "zlib_codec", "x-junk", '"', "utf-7"]
            ),
            st.sampled_from(["base64", "quoted-printable", "8bit", "x-uuencode", "junk"]),
            st.integers(0, 60),
            st.text(max_size=400),
        ),
    )
)
def test_the_mail_parser_never_raises_and_never_loops(raw: bytes) -> None:
    incoming = Incoming(raw, len(raw), True, None, "fuzz", _nothing)
    started = time.monotonic()
    try:
        mail = parse_mail(incoming)
    except Unreadable:
        return
    parse_orders(mail.body)
    automated(mail.msg)
    try:
        build_reply(mail.msg, "boss@home.test", "kshell@home.test", "| ok\n")
    except ReplyError:
        pass
    assert time.monotonic() - started < 1.5


async def _nothing() -> None:
    return None


# -- 5 and 10. replies that could become orders or headers ------------------------------------------


def test_device_text_never_starts_a_reply_line(tmp_path: Path, sink: ReplySink) -> None:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias=FORGED, model="HS110(EU) 2.0")
    home = tmp_path / "home"
    configure(home, sink)
    with SimulatorThread([spec]) as sim:
        run(home, lambda listener: listener.deliver(make_mail(f"!off {PLUG}\n!info {PLUG}")))
        assert sim.plug(PLUG).relay_state == 0
    text = body(replies(sink)[0])
    assert FORGED in text  # shown, as data
    assert not [line for line in text.splitlines() if line.lstrip().startswith("!")]
    assert parse_orders(text).commands == []  # quoted back unindented, it orders nothing


def test_encoded_words_cannot_put_headers_into_the_reply(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    subject = "=?utf-8?q?hi=0D=0AReply-To=3A_evil=40evil=2Etest=0D=0AContent-Type=3A_text/html?="
    refs = "<a@home.test> =?utf-8?q?=0D=0ABcc=3A_evil=40evil=2Etest?="
    raw = make_mail(f"!info {PLUG}", subject=subject, headers=f"References: {refs}\n")
    run(home, lambda listener: listener.deliver(raw))
    [reply] = replies(sink)
    assert reply["Reply-To"] is None and reply["Bcc"] is None
    assert len(reply.get_all("Content-Type") or []) == 1
    assert reply.get_content_type() == "text/plain"
    decoded = str(email.header.make_header(email.header.decode_header(reply["Subject"])))
    assert "\r" not in decoded and "\n" not in decoded and decoded.startswith("Re: hi")
    assert reply["References"].split()[0] == "<a@home.test>"


# -- 12. reply loops ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, sender",
    [
        ("Precedence: auto_reply\n", "boss@home.test"),
        ("Precedence: bulk\n", "boss@home.test"),
        ("X-Autoreply: yes\n", "boss@home.test"),
        ("X-Autorespond: yes\n", "boss@home.test"),
        ("List-Id: <plugs.home.test>\n", "boss@home.test"),
        ("Return-Path: <>\n", "boss@home.test"),
        ("", "MAILER-DAEMON@home.test"),
    ],
    ids=["auto_reply", "bulk", "x-autoreply", "x-autorespond", "list-id", "return-path", "daemon"],
)
def test_automated_mail_never_gets_a_reply(
    home: Path, sim: SimulatorThread, sink: ReplySink, headers: str, sender: str
) -> None:
    configure(home, sink, senders="boss@home.test = control\nmailer-daemon@home.test = control\n")
    raw = make_mail(f"!off {PLUG}", headers=headers, sender=sender)
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    assert "automated mail" in listener.audit()[0]["verdict"]


# -- 11. what the SMTP listener keeps -----------------------------------------------------------------


def smtp_configure(home: Path, sink: ReplySink, port: int) -> None:
    write_config(
        home,
        extra=(
            f"\n[remote]\nsource = smtp://127.0.0.1:{port}\n"
            f"reply = smtp://127.0.0.1:{sink.port}\nreply_from = kshell@home.test\n"
            f"[totp]\nboss@home.test = {SECRET}\n[senders]\nboss@home.test = control\n"
        ),
    )


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("someone@evil.test", ["kshell@home.test"], raw)


def stored(home: Path) -> list[Path]:
    files = (home / "Maildir").rglob("*")
    return [p for p in files if p.is_file() and p.parent.name in ("new", "cur")]


def test_the_smtp_listener_keeps_nothing_from_strangers_or_over_the_limit(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    port = free_port()
    smtp_configure(home, sink, port)
    refused: list[str] = []

    async def scenario(service: RemoteService) -> None:
        big = make_mail(
            f"!off {PLUG}\n" + ("x" * 76 + "\n") * 1650, sender="stranger@evil.test", proof=None
        )
        for raw in [big] * 40 + [make_mail(f"!off {PLUG}", sender="x@evil.test", proof=None)]:
            try:
                await asyncio.to_thread(send, port, raw)
            except smtplib.SMTPException as exc:
                refused.append(str(exc))
        over = make_mail(
            f"!off {PLUG}\n" + ("y" * 76 + "\n") * 900, proof=None
        )  # allowed, but too big
        with pytest.raises(smtplib.SMTPException) as err:
            await asyncio.to_thread(send, port, over)
        assert "552" in str(err.value)
        assert stored(home) == []
        code = pyotp.TOTP(SECRET).now()
        await asyncio.to_thread(send, port, make_mail(f"!auth {code}\n!off {PLUG}", proof=None))
        await until(lambda: len(sink.messages) == 1, "the reply")

    listen(home, scenario)
    # the 40 big ones refused for their size; the small stranger's accepted and dropped
    # unwritten (a 550 would be an allowlist oracle: see test_redteam_smtp)
    assert len(refused) == 40 and all("552" in r for r in refused)
    assert sim.plug(PLUG).relay_state == 0
    assert len(stored(home)) == 1  # the one order, in the processed folder


def test_guessing_codes_through_the_smtp_listener_locks_totp(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    port = free_port()
    smtp_configure(home, sink, port)

    async def scenario(service: RemoteService) -> None:
        code = pyotp.TOTP(SECRET).now()
        guesses = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 6)]
        for guess in [*guesses, code]:
            await asyncio.to_thread(
                send, port, make_mail(f"!auth {guess}\n!off {PLUG}", proof=None)
            )
        await until(lambda: len(audit(home)) >= 7, "six verdicts and the lock")

    listen(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    # no answer to the guesser; the owner's own address hears once why codes were refused
    assert answers(sink) == [] and len(code_notices(sink)) == 1
    assert code_notices(sink)[0]["To"] == "boss@home.test"
    assert "TOTP is locked" in audit(home)[-1]["verdict"]
