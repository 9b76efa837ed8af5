"""From raw bytes to a ``Mail``, bounded before any work, or ``Unreadable``.

A mail is untrusted input to a loop that must go on: before the parser sees it, its header
count and the number of MIME containers it can declare are bounded (the standard parser
nests one generator per container, so a thousand nested multiparts cost seconds and end in
a RecursionError); after, its depth and part count are checked again and its text decoded
within a size. Anything that raises on the way is ``Unreadable`` for that mail alone.

The journal key is the Message-ID together with the claimed sender and a hash of the body
(a stranger who sends a real order's Message-ID first does not make the order a duplicate);
a mail without Message-ID is keyed by its From, Date, Subject and body.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from kshell.app.remote.body import Unreadable, body_text
from kshell.app.remote.sources.base import Incoming
from kshell.app.remote.trust import from_address

MAX_HEADERS = 300  # header fields of the top level (real mail through a few hops: ~100)
MAX_CONTAINERS = 30  # "multipart/" and "message/" anywhere in the raw mail
MAX_BOUNDARY_LINES = 500  # lines starting with "--": boundaries, so parts
MAX_DEPTH = 8
MAX_PARTS = 100
# RFC 5322 allows one of each; Python reads the first copy while DKIM verifies the last
SINGLE_HEADERS = (
    "From",
    "Date",
    "Message-ID",
    "Subject",
    "To",
    "Content-Type",
    "Content-Transfer-Encoding",
)
_CONTAINER = re.compile(rb"(?i)(multipart|message)\s*/")
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


@dataclass
class Mail:
    """What the processor knows about one message once it is parsed."""

    incoming: Incoming
    msg: Message
    message_id: str  # the Message-ID, or the hash key standing in for it
    key: str  # the journal key
    subject: str
    body: str
    refusal: str | None = None  # why the mail is refused on its form alone (no reply)


def unreadable_key(raw: bytes) -> str:
    """The journal key of a mail that could not be parsed: its bytes."""
    return "unreadable:" + hashlib.sha256(raw).hexdigest()


def parse_mail(incoming: Incoming) -> Mail:
    """The parsed mail, or ``Unreadable`` (never any other exception)."""
    try:
        return _parse(incoming)
    except Unreadable:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - whatever the parser met
        raise Unreadable(f"the mail cannot be parsed ({type(exc).__name__})") from None


def _parse(incoming: Incoming) -> Mail:
    raw = incoming.raw
    head, _, _ = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    fields = sum(1 for line in head.splitlines() if _FIELD.match(line))
    if fields > MAX_HEADERS:
        raise Unreadable(f"the mail has {fields} header fields; at most {MAX_HEADERS} are read")
    if incoming.complete:
        containers = len(_CONTAINER.findall(raw))
        if containers > MAX_CONTAINERS:
            raise Unreadable(
                f"the mail declares {containers} MIME containers; at most {MAX_CONTAINERS}"
            )
        boundaries = raw.count(b"\n--")
        if boundaries > MAX_BOUNDARY_LINES:
            raise Unreadable(
                f"the mail has {boundaries} MIME boundary lines; at most {MAX_BOUNDARY_LINES}"
            )
        msg = message_from_bytes(raw, policy=compat32)
        _check_tree(msg)
        body = body_text(msg, limit=max(incoming.size, 1))
    else:  # only the head was read: the headers are all we look at
        msg = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        body = ""
    msgid = header(msg, "Message-ID", 300)
    subject = header(msg, "Subject", 200)
    sender = from_address(msg) or header(msg, "From", 500)
    digest = hashlib.sha256()
    parts = (msgid, sender, body) if msgid else (sender, header(msg, "Date", 100), subject, body)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    key = "mail:" + digest.hexdigest()
    refusal = two_readings(raw, msg) or duplicate_header(msg)
    return Mail(incoming, msg, msgid or key, key, subject, body, refusal)


def two_readings(raw: bytes, msg: Message) -> str | None:
    """Why Python's parser and DKIM's would read this header section differently, or None.

    Python ends a line at a bare CR, dkimpy only at LF: ``X: y\\r\\r\\n`` ends the header
    section for one and not the other, and ``X: y\\rDate: ...`` is two headers for one and
    one for the other. Either way a signature would vouch for headers (and command lines)
    that it never saw, so such a mail proves nothing: it is refused on its form."""
    fields = 0
    for line in re.split(rb"\r?\n", raw):
        if not line:
            break
        if b"\r" in line:
            return "a header line holds a bare CR (parsers disagree on where it ends)"
        if line[:1] not in (b" ", b"\t") and not line.startswith(b"From "):
            fields += 1
    if fields != len(msg.keys()):
        return "the header section cannot be read one way only (a malformed header line)"
    return None


def _check_tree(msg: Message) -> None:
    """Depth and part count, walked without recursion."""
    stack: list[tuple[Message, int]] = [(msg, 1)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if depth > MAX_DEPTH or parts > MAX_PARTS:
            raise Unreadable(
                f"the mail nests MIME parts deeper than {MAX_DEPTH} or has more than {MAX_PARTS}"
            )
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack += [(sub, depth + 1) for sub in payload if isinstance(sub, Message)]


def duplicate_header(msg: Message) -> str | None:
    for name in SINGLE_HEADERS:
        count = len(msg.get_all(name) or [])
        if count > 1:
            return f"the header {name} appears {count} times (one is allowed)"
    return None


def header(msg: Message, name: str, limit: int) -> str:
    """A header as one line of at most ``limit`` characters ('' when missing or malformed)."""
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a malformed header is as good as none
        return ""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return " ".join(value.split())[:limit]


def message_age(msg: Message, now: float | None = None) -> float | None:
    """Seconds since the Date: header (negative when dated in the future), or None."""
    text = header(msg, "Date", 200)
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_dt = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return (now_dt - when).total_seconds()


RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To")
MAX_RECIPIENTS = 100  # addresses read from those headers; a real order names one or two


def recipients(msg: Message) -> set[str]:
    """The bare, lower-cased addresses in To, Cc and Delivered-To (at most MAX_RECIPIENTS)."""
    try:
        values = [
            str(v)[:2000] for name in RECIPIENT_HEADERS for v in (msg.get_all(name) or [])[:10]
        ]
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - the same
        return set()
    return {addr.strip().lower() for _, addr in pairs[:MAX_RECIPIENTS] if "@" in addr}


def not_for_us(msg: Message, addresses: tuple[str, ...]) -> str | None:
    """Why the mail was not sent to one of our addresses, or None when it was: an order
    addressed to someone else (a copy forwarded, a list, a misdelivery) never runs."""
    if recipients(msg) & set(addresses):
        return None
    return "not addressed to " + ", ".join(addresses) + " (To, Cc or Delivered-To)"


AUTOMATED_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
AUTOMATED_SENDERS = ("mailer-daemon", "postmaster")


def automated(msg: Message) -> str | None:
    """Why the mail was written by a machine (never answered: no mail loops), or None."""
    auto = header(msg, "Auto-Submitted", 100).lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = header(msg, "Precedence", 100).lower()
    if precedence in AUTOMATED_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "List-Id"):
        if msg.get(name) is not None:
            return f"{name} header"
    return_paths = msg.get_all("Return-Path") or []
    if any(str(value).strip() in ("", "<>") for value in return_paths):
        return "empty Return-Path"
    sender = from_address(msg) or ""
    if sender.partition("@")[0] in AUTOMATED_SENDERS:
        return f"sent by {sender.partition('@')[0]}"
    return None
