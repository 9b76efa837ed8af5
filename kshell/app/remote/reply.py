"""Replies by SMTP: ``Re:`` subject, In-Reply-To and References, the transcript as text.

A reply must not become an order or a header. Every transcript line carries a visible
``| `` (``> `` for the command lines): quoted back to kshell, no line of it starts with the
marker, whatever a device called itself (whitespace alone would not do: HTML-to-text and
SMS gateways strip it). The subject and references are decoded, stripped of control
characters and encoded again, and the reply is built with a strict policy that refuses
CR or LF in any header; a reply whose headers still came out wrong is not sent.

smtplib runs in a worker thread (it blocks); one connection is kept open between replies
so a backlog does not pay a handshake per message, and reopened once if the server
dropped it while idle. It logs in as ``auth.py`` says (a password, from the URL or a command,
or an OAuth 2.0 token as XOAUTH2 or OAUTHBEARER) over TLS verified by ``tls.py``; STARTTLS
that the server does not offer is an error, never plaintext.
"""

from __future__ import annotations

import asyncio
import base64
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
from pathlib import Path

from kshell.app.remote.auth import (
    DUMMY_RESPONSE,
    AuthError,
    Credentials,
    bounded,
    challenge_status,
    initial_response,
)
from kshell.app.remote.settings import ReplySpec
from kshell.app.remote.tls import client_context, describe_tls_error
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
    def __init__(
        self, spec: ReplySpec | None, timeout: float = 10.0, ca_file: Path | None = None
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self.ca_file = ca_file  # [remote] ca_file: the CAs trusted for the reply server
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self._credentials = Credentials(spec.auth, spec.password) if spec is not None else None

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
                except AuthError as exc:
                    self._drop()
                    raise ReplyError(f"reply not sent: {exc}") from None
                except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    self._drop()
                    raise ReplyError(f"reply not sent: {_describe(exc)}") from None

    def _connect(self, steps: list[tuple[str, bool, str]] | None = None) -> smtplib.SMTP:
        """A connection ready to send: connect, TLS (verified; STARTTLS never skipped), EHLO,
        auth. A failure is an AuthError naming its stage; ``steps`` gets each that worked."""
        spec = self.spec
        assert spec is not None

        def note(stage: str, detail: str) -> None:
            if steps is not None:
                steps.append((f"reply: {stage}", True, detail))

        context = client_context(self.ca_file) if spec.security != "none" else None
        where = f"{spec.host}:{spec.port}"
        try:
            if spec.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    spec.host, spec.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(spec.host, spec.port, timeout=self.timeout)
        except ssl.SSLError as exc:
            raise AuthError(f"{where}: {describe_tls_error(exc)}", "TLS") from None
        except OSError as exc:
            raise AuthError(f"{where}: cannot connect: {_describe(exc)}", "connect") from None
        try:
            note("connect", spec.describe())
            if spec.security == "ssl":
                note("TLS", f"implicit TLS, certificate verified for {spec.host}")
            code, text = smtp.ehlo()
            if code != 250:
                raise AuthError(f"{code} {_first(text)}", "EHLO")
            note("EHLO", f"{code} {_first(text)}")
            if spec.security == "starttls":
                self._starttls(smtp, context)
                note("TLS", f"STARTTLS, certificate verified for {spec.host}")
            if spec.user or spec.auth.oauth:
                self._login(smtp)
                note("auth", f"{spec.user} ({spec.auth.describe()})")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _starttls(self, smtp: smtplib.SMTP, context: ssl.SSLContext | None) -> None:
        if not smtp.has_extn("starttls"):
            raise AuthError("the server does not offer STARTTLS: refusing plaintext", "TLS")
        try:
            code, text = smtp.starttls(context=context)
        except ssl.SSLError as exc:
            raise AuthError(describe_tls_error(exc), "TLS") from None
        if code != 220:
            raise AuthError(f"STARTTLS refused: {code} {_first(text)}", "TLS")
        smtp.ehlo()

    def _login(self, smtp: smtplib.SMTP) -> None:
        """Log in; once refused, ask the command for a fresh password or token and retry."""
        spec, credentials = self.spec, self._credentials
        assert spec is not None and credentials is not None
        kind = spec.auth.kind
        if spec.auth.oauth:
            offered = smtp.esmtp_features.get("auth", "").upper().split()
            if kind.upper() not in offered:
                raise AuthError(f"the server does not offer AUTH {kind.upper()}", "auth")
        for fresh in (False, True):
            secret = credentials.secret(fresh)
            mechanism = _Mechanism(spec, secret) if spec.auth.oauth else None
            try:
                if mechanism is not None:
                    smtp.auth(kind.upper(), mechanism, initial_response_ok=True)
                else:
                    smtp.login(spec.user, secret)
                return
            except smtplib.SMTPAuthenticationError as exc:
                if fresh or not credentials.refreshable:
                    status = f" ({mechanism.status})" if mechanism and mechanism.status else ""
                    raise AuthError(
                        f"{kind} refused for {spec.user}: {_describe(exc)}{status}", "auth"
                    ) from None
            except smtplib.SMTPNotSupportedError:
                raise AuthError("the server offers no AUTH", "auth") from None
            except UnicodeEncodeError:  # smtplib sends SASL in ASCII only
                raise AuthError(
                    f"{kind}: the user or the secret is not ASCII, which SMTP AUTH cannot send",
                    "auth",
                ) from None

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
        try:
            smtp = self._connect(steps)
        except AuthError as exc:
            steps.append((f"reply: {exc.step}", False, bounded(exc.message)))
            return steps
        except (smtplib.SMTPException, OSError) as exc:
            steps.append(("reply: connect", False, bounded(_describe(exc))))
            return steps
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
        return steps


class _Mechanism:
    """smtplib's authobject for XOAUTH2 / OAUTHBEARER: the initial response, then the dummy
    answer to the server's error challenge, whose status is kept for the error message."""

    def __init__(self, spec: ReplySpec, token: str) -> None:
        self.spec = spec
        self.token = token
        self.status = ""

    def __call__(self, challenge: bytes | None = None) -> str:
        spec = self.spec
        if challenge is None:
            return initial_response(spec.auth, spec.user, self.token, spec.host, spec.port).decode()
        self.status = challenge_status(base64.b64encode(challenge[:4096]))
        return DUMMY_RESPONSE[spec.auth.kind].decode()


def _first(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return bounded(text.splitlines()[0][:100]) if text.strip() else ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_first(exc.smtp_error)}"
    return bounded(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
