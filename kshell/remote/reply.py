"""Replies by SMTP: ``Re:`` subject, In-Reply-To and References, the transcript as text.

smtplib runs in a worker thread (it blocks); one connection is kept open between replies
so a backlog does not pay a handshake per message, and reopened once if the server
dropped it while idle.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import threading
from email.message import EmailMessage, Message
from email.utils import formatdate, make_msgid

from kshell.errors import KshellError
from kshell.remote.settings import ReplySpec


class ReplyError(KshellError):
    kind = "reply"


def build_reply(original: Message, to: str, sender: str, body: str) -> EmailMessage:
    """A reply to ``original`` (to its proven From: address, never to Reply-To)."""
    reply = EmailMessage()
    subject = _one_line(str(original.get("Subject", "") or "")) or "kshell"
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    reply["From"] = sender
    reply["To"] = to
    reply["Date"] = formatdate(localtime=True)
    reply["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    reply["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-answer to this one
    msgid = _one_line(str(original.get("Message-ID", "") or ""))
    if msgid:
        reply["In-Reply-To"] = msgid
        refs = _one_line(str(original.get("References", "") or ""))
        reply["References"] = f"{refs} {msgid}".strip()[-2000:]
    reply.set_content(body)
    return reply


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


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
