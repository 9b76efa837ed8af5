"""Mail as the remote-mode tests write and read it: an order as the operator's server
delivers it, the replies the sink kept, a DKIM signature."""

from __future__ import annotations

import email
from email.message import Message
from email.utils import formatdate, make_msgid

from helpers.dovecot import ReplySink

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # boss@home.test's TOTP secret
KEY_NAME = "sel._domainkey.home.test"  # where the DKIM key of home.test is published


def make_mail(
    body: str,
    *,
    sender: str = "Boss <boss@home.test>",
    subject: str = "plug",
    proof: str | None = "dkim=pass header.d=home.test",
    date: str | None = None,
    msgid: str | None = None,
    headers: str = "",
    to: str | None = "kshell@home.test",
) -> bytes:
    """A mail as the operator's server delivers it (Authentication-Results on top)."""
    lines = []
    if proof:
        lines.append(f"Authentication-Results: mx.home.test; {proof}")
    lines += [
        f"From: {sender}",
        *([f"To: {to}"] if to is not None else []),
        f"Subject: {subject}",
        f"Date: {date or formatdate(localtime=True)}",
        f"Message-ID: {msgid or make_msgid(domain='home.test')}",
    ]
    head = "\r\n".join(lines) + "\r\n" + headers.replace("\n", "\r\n")
    return (head + "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode()


def replies(sink: ReplySink) -> list[Message]:
    return [email.message_from_bytes(raw) for raw in sink.messages]


def body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode().replace("\r\n", "\n")


def signed(private: bytes, raw: bytes, domain: bytes = b"home.test", length: bool = False) -> bytes:
    import dkim

    names = [b"from", b"date", b"message-id", b"subject", b"to"]
    return dkim.sign(raw, b"sel", domain, private, include_headers=names, length=length) + raw


NOTICE_SUBJECT = "Re: kshell code"  # what kshell calls the notice of a refused TOTP code


def code_notices(sink: ReplySink) -> list[Message]:
    """The notices of refused TOTP codes kshell sent (to the owner's address)."""
    return [msg for msg in replies(sink) if msg["Subject"] == NOTICE_SUBJECT]


def answers(sink: ReplySink) -> list[Message]:
    """The replies to orders: every mail kshell sent but the notices of refused codes."""
    return [msg for msg in replies(sink) if msg["Subject"] != NOTICE_SUBJECT]
