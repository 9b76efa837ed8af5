"""One mail, start to finish: journal, trust, limits, commands, reply, audit, move.

The order matters. The journal sees a message before anything else happens to it (so it
never runs twice), trust is decided before any limit is explained to anyone (an untrusted
sender gets no reply at all: no backscatter to a forged address), the message is
``running`` on disk before its first command, and it moves to the processed folder only
once the journal has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

from kshell.context import Context
from kshell.errors import KshellError
from kshell.grammar import split_commands
from kshell.invocation import Invocation
from kshell.output import Collector, clean
from kshell.remote.audit import AuditLog
from kshell.remote.body import Orders, body_text, parse_orders
from kshell.remote.journal import Journal
from kshell.remote.reply import ReplySender, build_reply
from kshell.remote.settings import RemoteSettings
from kshell.remote.sources import Incoming, Reporter
from kshell.remote.trust import DnsFunc, Verdict, judge
from kshell.runner import run_line

HOUR = 3600.0


@dataclasses.dataclass
class Mail:
    """What the processor knows about one message once it is parsed."""

    incoming: Incoming
    msg: Message
    message_id: str  # the Message-ID, or the hash key standing in for it
    key: str
    subject: str
    body: str


class Processor:
    def __init__(
        self,
        ctx: Context,
        settings: RemoteSettings,
        journal: Journal,
        audit: AuditLog,
        replies: ReplySender,
        report: Reporter,
        *,
        trust_authres: bool = True,
        dnsfunc: DnsFunc | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.journal = journal
        self.audit = audit
        self.replies = replies
        self.report = report
        self.trust_authres = trust_authres
        self.dnsfunc = dnsfunc
        self.stats = {"messages": 0, "ran": 0, "rejected": 0, "refused": 0, "duplicates": 0}
        self.last: str = ""

    # -- entry point ----------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        """Handle one message; never raises (a bad mail must not stop the listener)."""
        self.stats["messages"] += 1
        mail: Mail | None = None
        try:
            mail = parse_mail(incoming)
            entry = self.journal.find(mail.key, incoming.mailbox_key)
            if (
                entry is not None
                and incoming.mailbox_key
                and entry.mailbox_key == incoming.mailbox_key
            ):
                pass  # the same copy again (its move failed last time): just move it now
            elif entry is not None:
                self.stats["duplicates"] += 1
                self._audit(
                    mail, entry.sender, None, "duplicate", f"not run (journal: {entry.state})"
                )
                self.report(
                    f"remote: {clean(mail.message_id, 120)} seen before ({entry.state}): "
                    "not run again"
                )
            else:
                self.journal.receive(mail.key, incoming.mailbox_key, None, mail.subject)
                await self._process(mail)
        except Exception as exc:  # noqa: BLE001 - one bad mail is reported, the listener goes on
            self.report(
                f"remote: internal error on {clean(incoming.where)}: "
                f"{type(exc).__name__}: {clean(str(exc), 200)}"
            )
            if mail is not None:
                with contextlib.suppress(Exception):  # the journal may be what failed
                    self.journal.set_state(
                        mail.key, "failed", f"internal error: {type(exc).__name__}"
                    )
            else:
                return  # not journaled: leave it where it is rather than lose it
        try:
            await incoming.finish()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the source reconnects; the journal has it
            self.report(f"remote: could not move {clean(incoming.where)}: {clean(str(exc), 200)}")
            raise

    # -- the steps ------------------------------------------------------------------------

    async def _process(self, mail: Mail) -> None:
        s = self.settings
        orders = parse_orders(mail.body, s.marker) if mail.incoming.complete else Orders()
        verdict: Verdict = await asyncio.to_thread(
            judge,
            mail.msg,
            mail.incoming.raw if mail.incoming.complete else b"",
            senders=s.senders,
            authserv_id=s.trusted_authserv_id,
            secret=s.secret,
            auth_codes=orders.auth_codes,
            use_code=self.journal.use_code,
            dnsfunc=self.dnsfunc,
            trust_authres=self.trust_authres,
        )
        sender = verdict.sender
        if not verdict.trusted:
            self.stats["rejected"] += 1
            self.journal.set_state(mail.key, "rejected", verdict.how, sender=sender)
            self._audit(mail, sender, None, f"rejected: {verdict.how}", "not run")
            self.report(
                f"remote: mail from {clean(sender or '?')} rejected ({verdict.how}); "
                "nothing run, no reply"
            )
            return
        assert sender is not None and verdict.permission is not None
        auto = str(mail.msg.get("Auto-Submitted", "no")).strip().lower()
        if auto and auto != "no":
            self._refuse(mail, sender, f"auto-submitted mail ({auto}) is never an order")
            return
        why = self._why_not(mail, orders, sender)
        if why is not None:
            reason, reply = why
            await self._refuse_and_reply(mail, sender, reason, reply)
            return
        await self._run(mail, orders, sender, verdict)

    def _why_not(self, mail: Mail, orders: Orders, sender: str) -> tuple[str, bool] | None:
        """Why a trusted message runs nothing (and whether to say so), or None to run it."""
        s = self.settings
        if not mail.incoming.complete:
            return (
                f"the message is {mail.incoming.size} bytes; the limit is "
                f"{s.max_message_bytes} (max_message_bytes)"
            ), True
        age = message_age(mail.msg)
        if age is None:
            return "the message has no valid Date: header, so its age is unknown", True
        if age > s.max_age_minutes * 60:
            return (
                f"the message is {age / 60:.0f} minutes old; orders older than "
                f"{s.max_age_minutes:g} minutes are not run"
            ), True
        if age < -s.max_age_minutes * 60:
            return "the message is dated in the future; check the sender's clock", True
        if self.journal.ran_within(sender, HOUR) >= s.rate_per_hour:
            told = self.journal.rate_notice_sent(sender, HOUR)
            return f"rate limit: more than {s.rate_per_hour} messages in an hour", not told
        if orders.problems:
            return "; ".join(orders.problems), True
        count = sum(_count_commands(line) for line in orders.commands)
        if count > s.max_commands:
            return f"the message has {count} commands; the limit is {s.max_commands}", True
        if count == 0:
            return f"no command lines found (lines starting with {s.marker})", True
        return None

    def _refuse(self, mail: Mail, sender: str, reason: str) -> None:
        self.stats["refused"] += 1
        self.journal.set_state(mail.key, "refused", reason, sender=sender)
        self._audit(mail, sender, None, f"refused: {reason}", "not run")
        self.report(f"remote: mail from {clean(sender)}: nothing run: {clean(reason, 300)}")

    async def _refuse_and_reply(self, mail: Mail, sender: str, reason: str, reply: bool) -> None:
        self._refuse(mail, sender, reason)
        if reply:
            await self._send_reply(mail, sender, f"Nothing was run: {reason}.\n")

    async def _run(self, mail: Mail, orders: Orders, sender: str, verdict: Verdict) -> None:
        self.stats["ran"] += 1
        self.journal.set_state(mail.key, "running", verdict.how, sender=sender)
        mail_ctx = self._mail_context(verdict.permission or "read")
        sections: list[tuple[str, bool, str]] = []
        self.report(f"remote: mail from {sender} ({verdict.how}), {clean(mail.incoming.where)}:")
        for line in orders.commands:
            for text in _split(line):
                started = time.monotonic()
                ok, output = await self._run_one(mail_ctx, text)
                took = time.monotonic() - started
                sections.append((text, ok, output))
                self._audit(
                    mail, sender, text, f"trusted: {verdict.how}", "ok" if ok else "failed", took
                )
                self.report(f"  {self.settings.marker}{clean(text, 300)}")
                for out_line in output.rstrip("\n").splitlines():
                    self.report(f"  {clean(out_line, 300)}")
        failed = sum(1 for _, ok, _ in sections if not ok)
        self.journal.set_state(mail.key, "done", f"{len(sections)} run, {failed} failed")
        self.last = f"{sender}: {len(sections)} command(s), {failed} failed"
        await self._send_reply(mail, sender, self._transcript(sections, sender, verdict))

    def _mail_context(self, permission: str) -> Context:
        """A copy of the session for one mail: the sender's permission, nobody to ask, the
        operator's mail rules; every line passes the runner's gate with this Invocation."""
        own = ("after_command", "exit", "remote_status", "remote_service")
        return dataclasses.replace(
            self.ctx,
            invocation=Invocation.for_mail(permission, self.settings.mail_rules()),
            assume_yes=False,  # the operator's --yes is not the sender's
            interactive=False,
            current=None,
            extras={k: v for k, v in self.ctx.extras.items() if k not in own},
        )

    async def _run_one(self, mail_ctx: Context, text: str) -> tuple[bool, str]:
        """The runner's gate decides what the mail may run and for how long."""
        collector = Collector()
        ok = await run_line(mail_ctx, text, collector)
        return ok, collector.text()

    def _transcript(
        self, sections: list[tuple[str, bool, str]], sender: str, verdict: Verdict
    ) -> str:
        marker = self.settings.marker
        failed = sum(1 for _, ok, _ in sections if not ok)
        if self.settings.reply_format == "compact":
            lines = []
            for text, ok, output in sections:
                first = next((ln.strip() for ln in output.splitlines() if ln.strip()), "")
                lines.append(
                    clean(
                        f"{text}: {'ok' if ok else 'FAILED'}{' - ' + first if first else ''}", 150
                    )
                )
            return "\n".join(lines) + "\n"
        head = (
            f"kshell ran {len(sections)} command(s) for {sender} ({verdict.how}); "
            f"{failed} failed.\n"
        )
        # "> " keeps the transcript's command lines from being read as orders again
        parts = [
            f"> {marker}{text}\n{output.rstrip()}" if output.strip() else f"> {marker}{text}"
            for text, _, output in sections
        ]
        return head + "\n" + "\n\n".join(parts) + "\n"

    async def _send_reply(self, mail: Mail, sender: str, body: str) -> None:
        if self.settings.reply is None:
            self.report("remote: no reply server configured ([remote] reply): reply not sent")
            return
        reply = build_reply(mail.msg, sender, self.settings.reply_from, body)
        try:
            await self.replies.send(reply)
        except KshellError as exc:
            self.report(f"remote: reply to {sender} failed: {clean(str(exc), 300)}")
            return
        self.journal.mark_replied(mail.key)

    def _audit(
        self,
        mail: Mail,
        sender: str | None,
        command: str | None,
        verdict: str,
        outcome: str,
        duration: float = 0.0,
    ) -> None:
        self.audit.write(
            sender=sender,
            message_id=mail.message_id,
            command=command,
            verdict=verdict,
            outcome=outcome,
            duration=duration,
        )

    def report_interrupted(self) -> None:
        """After a crash: each message left ``running`` is reported, never run again."""
        for entry in self.journal.interrupted():
            what = "was running" if entry.state == "running" else "was being checked"
            self.report(
                f"remote: message {clean(entry.key, 120)} from {entry.sender or '?'} {what} "
                "when the listener stopped: not run again (check the plugs by hand)"
            )
            self.audit.write(
                sender=entry.sender,
                message_id=entry.key,
                command=None,
                verdict="interrupted",
                outcome="unknown: not re-run",
            )


# -- parsing -------------------------------------------------------------------------------


def parse_mail(incoming: Incoming) -> Mail:
    if incoming.complete:
        msg = message_from_bytes(incoming.raw, policy=compat32)
        body = body_text(msg)
    else:  # only the head was read: the headers are all we look at
        msg = BytesParser(policy=compat32).parsebytes(incoming.raw, headersonly=True)
        body = ""
    msgid = _header(msg, "Message-ID", 300)
    subject = _header(msg, "Subject", 200)
    if msgid:
        key = "id:" + msgid
    else:  # no Message-ID: the same From, Date, Subject and text is the same message
        digest = hashlib.sha256()
        for part in (_header(msg, "From", 500), _header(msg, "Date", 100), subject, body):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        key = "sha256:" + digest.hexdigest()
    return Mail(incoming, msg, msgid or key, key, subject, body)


def _header(msg: Message, name: str, limit: int) -> str:
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
    text = _header(msg, "Date", 200)
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


def _split(line: str) -> list[str]:
    """One mail line -> its commands (``;``); a line that does not parse runs as it is,
    so the transcript shows the grammar's own error."""
    try:
        return [cmd.text for cmd in split_commands(line)] or []
    except KshellError:
        return [line]


def _count_commands(line: str) -> int:
    return len(_split(line))
