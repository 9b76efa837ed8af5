"""Replies by SMTP: ``Re:`` subject, In-Reply-To and References, the transcript as text.

A reply must not become an order or a header. Every transcript line carries a visible
``| `` (``> `` for the command lines): quoted back to kshell, no line of it starts with the
marker, whatever a device called itself (whitespace alone would not do: HTML-to-text and
SMS gateways strip it). The subject and references are decoded, stripped of control
characters and encoded again, and the reply is built with a strict policy that refuses
CR or LF in any header; a reply whose headers still came out wrong is not sent.

smtplib runs in a worker thread (it blocks); one connection is kept open between replies
so a backlog does not pay a handshake per message, and reopened once if the server
dropped it while idle.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import threading
import unicodedata
from email import message_from_bytes
from email.header import decode_header
from email.message import EmailMessage, Message
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from kshell.app.remote.settings import ReplySpec
from kshell.errors import KshellError

STRICT = SMTP.clone(raise_on_defect=True, max_line_length=998)
LINE_PREFIX = "| "
_MSGID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")  # printable ASCII, no < or >
REPLY_HEADERS = ("Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted")


class ReplyError(KshellError):
    kind = "reply"


def build_reply(original: Message, to: str, sender: str, body: str) -> EmailMessage:
    """A reply to ``original`` (to its proven From: address, never to Reply-To); a
    ``ReplyError`` when the strict policy refuses any part of it."""
    try:
        return _build(original, to, sender, body)
    except (ValueError, TypeError) as exc:  # the policy's refusals (defects are ValueErrors)
        raise ReplyError(f"reply not built: {str(exc)[:200]}") from None


def _build(original: Message, to: str, sender: str, body: str) -> EmailMessage:
    reply = EmailMessage(policy=STRICT)
    subject = header_text(original, "Subject", 200) or "kshell"
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    reply["From"] = sender
    reply["To"] = to
    reply["Date"] = formatdate(localtime=True)
    reply["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    reply["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-answer to this one
    ids = _MSGID.findall(str(original.get("Message-ID", "") or ""))
    if len(ids) == 1:
        refs = _MSGID.findall(str(original.get("References", "") or ""))[-10:]
        reply["In-Reply-To"] = ids[0]
        reply["References"] = " ".join([*(r for r in refs if r != ids[0]), ids[0]])
    reply.set_content(body)
    _check_headers(reply)
    return reply


def header_text(msg: Message, name: str, limit: int) -> str:
    """A header decoded (encoded-words too), without control characters, on one line.

    ``=?`` is broken up so that the policy cannot decode a second, nested encoded word."""
    raw = str(msg.get(name, "") or "")
    try:
        text = "".join(
            part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
            for part, charset in decode_header(raw)
        )
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = raw  # a charset that cannot decode: the words as they came
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.replace("=?", "= ?").split())[:limit]


def _check_headers(reply: EmailMessage) -> None:
    """The reply's own headers, and no others, once it is serialised."""
    try:
        data = reply.as_bytes()
    except (ValueError, TypeError) as exc:
        raise ReplyError(f"reply not built: {exc}") from None
    head = message_from_bytes(data.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
    fields = [name.lower() for name in head]
    names = set(fields)
    allowed = {h.lower() for h in REPLY_HEADERS} | {
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "mime-version",
    }
    if not names <= allowed or len(fields) != len(names):
        raise ReplyError("reply not sent: its headers did not come out as built")


def prefixed(text: str, prefix: str = LINE_PREFIX) -> list[str]:
    """Each line of ``text`` (split at every line break Python knows) behind a prefix."""
    return [prefix + line for line in text.rstrip().splitlines()]


def transcript(sections: list[tuple[str, bool, str]], head: str, marker: str, compact: bool) -> str:
    """The reply's text: every line prefixed, so none can be read as an order again."""
    if compact:
        lines = []
        for text, ok, output in sections:
            first = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
            line = f"{text}: {'ok' if ok else 'FAILED'}{' - ' + first if first else ''}"
            lines.append(LINE_PREFIX + " ".join(line.split())[:150])
        return "\n".join(lines) + "\n"
    parts = []
    for text, _, output in sections:
        lines = [f"> {marker}{' '.join(text.split())}", *prefixed(output)]
        parts.append("\n".join(lines))
    return head + "\n\n" + "\n\n".join(parts) + "\n"


def notice(text: str, marker: str) -> str:
    """A refusal's text: our own words, but a line starting with the marker is quoted."""
    lines = text.rstrip().splitlines()
    return (
        "\n".join(LINE_PREFIX + ln if ln.lstrip().startswith((marker, ">")) else ln for ln in lines)
        + "\n"
    )


class ReplySender:
    def __init__(self, spec: ReplySpec | None, timeout: float = 10.0) -> None:
        self.spec = spec
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    async def send(self, msg: EmailMessage) -> None:
        if self.spec is None:
            raise ReplyError("no reply server configured ([remote] reply)")
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._smtp is None:
                        self._smtp = self._connect()
                    self._smtp.send_message(msg)
                    return
                except smtplib.SMTPServerDisconnected as exc:
                    self._drop()
                    if attempt == 2:
                        raise ReplyError(f"reply server closed the connection: {exc}") from None
                except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    self._drop()
                    raise ReplyError(f"reply not sent: {_describe(exc)}") from None

    def _connect(self) -> smtplib.SMTP:
        spec = self.spec
        assert spec is not None
        if spec.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                spec.host, spec.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(spec.host, spec.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if spec.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if spec.user:
                smtp.login(spec.user, spec.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None

    def close(self) -> None:
        with self._lock:
            if self._smtp is not None:
                try:
                    self._smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass
            self._drop()

    async def check(self) -> list[tuple[str, bool, str]]:
        """Each step of reaching the reply server, for ``remote test``."""
        return await asyncio.to_thread(self._check)

    def _check(self) -> list[tuple[str, bool, str]]:
        spec = self.spec
        if spec is None:
            return [("reply server", False, "not configured ([remote] reply)")]
        steps: list[tuple[str, bool, str]] = []
        smtp: smtplib.SMTP | None = None
        step = "reply: connect" + (" (SSL)" if spec.security == "ssl" else "")
        try:
            if spec.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    spec.host, spec.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(spec.host, spec.port, timeout=self.timeout)
            steps.append((step, True, spec.describe()))
            step = "reply: EHLO"
            code, text = smtp.ehlo()
            steps.append((step, code == 250, f"{code} {_first(text)}"))
            if spec.security == "starttls":
                step = "reply: STARTTLS"
                code, text = smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                steps.append((step, code == 220, f"{code} {_first(text)}"))
            if spec.user:
                step = "reply: login"
                code, text = smtp.login(spec.user, spec.password)
                steps.append((step, code == 235, f"{code} {_first(text)}"))
            smtp.quit()
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            steps.append((step, False, _describe(exc)))
            if smtp is not None:
                smtp.close()
        return steps


def _first(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.splitlines()[0][:100] if text else ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_first(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
