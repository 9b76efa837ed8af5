"""One mail, start to finish: journal, trust, limits, commands, reply, audit, move.

The order matters. The journal sees a message before anything else happens to it (so it
never runs twice), trust is decided before any limit is explained to anyone (an untrusted
sender gets no reply at all: no backscatter to a forged address), the message is
``running`` on disk before its first command, and it moves to the processed folder only
once the journal has it.

Before trust: the mail is parsed within bounds (what cannot be read is journaled as
unreadable, moved, and never parsed again) and refused on its form (a once-only header
twice, more than one ``auth`` line). Mail that proves no sender draws on its own hourly
budget; past it no DNS lookup is made for it (a code is still tried: it costs none, and
wrong codes lock TOTP for their claimed sender). After trust: automated mail runs
nothing and gets no answer, a trusted sender's rate counts refusals too (so replies to
refusals stay within it), and one DKIM signature is settled once (before the rate, so a
replayed copy costs the owner nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from email.message import EmailMessage

from kshell.app.remote.audit import AuditLog
from kshell.app.remote.body import Orders, Unreadable, parse_orders
from kshell.app.remote.bounds import BoundedCollector, ReplyBudget, clip
from kshell.app.remote.faults import Faults
from kshell.app.remote.journal import Journal, Stopped
from kshell.app.remote.mailparse import (
    Mail,
    automated,
    message_age,
    not_for_us,
    parse_mail,
    unreadable_key,
)
from kshell.app.remote.reply import ReplySender, build_reply, notice, transcript
from kshell.app.remote.settings import RemoteSettings
from kshell.app.remote.short import (
    CODE_NOTICES,
    RecordsResults,
    reply_address,
    reply_style,
    short_notice,
    short_reply,
)
from kshell.app.remote.sources.base import Incoming, Reporter
from kshell.app.remote.totp import TotpBook, TotpGuard, lower_permission
from kshell.app.remote.trust import DnsFunc, ProvenKeys, Verdict, judge
from kshell.core.invocation import Invocation
from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.lang.grammar import split_commands
from kshell.text import clean
from kshell.ui.runner import run_line

HOUR = 3600.0


class MailCollector(RecordsResults, BoundedCollector):
    """One command's output by mail: bounded while it runs (``bounds``), and its results
    kept for a short reply (``short``)."""


NOTICE_SUBJECT = "Re: kshell code"  # a refused code's notice: our subject, not the mail's


@dataclass(frozen=True)
class Received:
    """A mail the journal has seen: ``mail`` None when there is nothing to run (a copy
    seen before, an unreadable mail), only the move to do."""

    incoming: Incoming
    mail: Mail | None


class Processor:
    def __init__(
        self,
        session: Session,
        settings: RemoteSettings,
        journal: Journal,
        audit: AuditLog,
        replies: ReplySender,
        report: Reporter,
        *,
        trust_authres: bool = True,
        dnsfunc: DnsFunc | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.journal = journal
        self.audit = audit
        self.replies = replies
        self.report = report
        self.trust_authres = trust_authres
        self.dnsfunc = dnsfunc
        self.keys = ProvenKeys()  # DKIM keys that proved a sender: still used in a flood
        self.totp = TotpGuard(TotpBook(settings.totp, settings.totp_file, settings.secret), journal)
        self.stats = {
            "messages": 0,
            "ran": 0,
            "rejected": 0,
            "refused": 0,
            "duplicates": 0,
            "unreadable": 0,
        }
        self.last: str = ""
        self.faults = Faults(report)

    # -- entry points (the dispatcher's) ---------------------------------------------------

    async def receive(self, incoming: Incoming) -> Received | None:
        """The journal's part, in arrival order before anything else: the mail journaled
        (``mail`` None: nothing more to run, only to move), or None when it could not be
        journaled (it stays where it is rather than be lost). Never raises: a bad mail must
        not stop the listener (``complete`` raises only when the move fails)."""
        self.stats["messages"] += 1
        try:
            return Received(incoming, await self._journal_in(incoming))
        except Exception as exc:  # noqa: BLE001 - one bad mail is reported, the listener goes on
            await self._internal_error(incoming, None, exc)
            return None

    async def complete(self, received: Received) -> None:
        """Trust, limits, commands and reply, then the move (the source's ``finish``)."""
        incoming, mail = received.incoming, received.mail
        if mail is not None:
            try:
                await self._process(mail)
            except Exception as exc:  # noqa: BLE001 - one bad mail is reported, the listener goes on
                await self._internal_error(incoming, mail, exc)
        try:
            if incoming.discard is not None and self._proved_nothing(incoming, mail):
                await incoming.discard()
            else:
                await incoming.finish()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the source reconnects; the journal has it
            self.report(f"remote: could not move {clean(incoming.where)}: {clean(str(exc), 200)}")
            raise

    async def _internal_error(self, incoming: Incoming, mail: Mail | None, exc: Exception) -> None:
        await self.faults.failed(incoming.where, exc)  # said once, counted, backed off
        if mail is not None:
            with contextlib.suppress(Exception):  # the journal may be what failed
                self.journal.set_state(mail.key, "failed", f"internal error: {type(exc).__name__}")

    def _proved_nothing(self, incoming: Incoming, mail: Mail | None) -> bool:
        """Whether the journal has this mail as unreadable or rejected (no sender proven)."""
        if mail is None:
            entry = self.journal.find(unreadable_key(incoming.raw))
            return entry is not None and entry.state == "unreadable"
        entry = self.journal.find(mail.key)
        return entry is not None and entry.state == "rejected"

    async def _journal_in(self, incoming: Incoming) -> Mail | None:
        """The mail, journaled as received, or None when there is nothing (more) to do."""
        seen = self.journal.find("", incoming.mailbox_key) if incoming.mailbox_key else None
        if seen is not None and seen.state != "retry":
            return None  # the same copy again (its move failed last time): just move it now
        bad_key = unreadable_key(incoming.raw)
        if self.journal.find(bad_key) is not None:
            return None  # unreadable before: never parsed again
        try:
            mail = parse_mail(incoming)
        except Unreadable as exc:
            self.stats["unreadable"] += 1
            self.journal.receive(bad_key, incoming.mailbox_key, None, "")
            self.journal.set_state(bad_key, "unreadable", str(exc))
            self.audit.write(
                sender=None,
                message_id=bad_key,
                command=None,
                verdict=f"unreadable: {exc}",
                outcome="not run",
            )
            self.report(f"remote: {clean(incoming.where)} is unreadable ({exc}); moved, not run")
            return None
        entry = self.journal.find(mail.key, incoming.mailbox_key)
        if entry is not None and entry.state in ("rejected", "retry"):
            self.journal.reopen(mail.key, incoming.mailbox_key)  # it ran nothing: judge again
        elif entry is not None:
            self.stats["duplicates"] += 1
            self._audit(mail, entry.sender, None, "duplicate", f"not run (journal: {entry.state})")
            self.report(
                f"remote: {clean(mail.message_id, 120)} seen before ({entry.state}): not run again"
            )
            return None
        else:
            self.journal.receive(mail.key, incoming.mailbox_key, None, mail.subject)
        return mail

    # -- the steps ------------------------------------------------------------------------

    async def _process(self, mail: Mail) -> None:
        s = self.settings
        self.faults.recovered()  # journaled: whatever failed before works again
        orders = parse_orders(mail.body, s.marker) if mail.incoming.complete else Orders()
        if mail.refusal is None and orders.auth_lines > 1:
            mail.refusal = f"{orders.auth_lines} auth lines (one per mail at most)"
        if mail.refusal is None:
            mail.refusal = not_for_us(mail.msg, s.addresses)
        if mail.refusal is not None:
            self._reject(mail, None, mail.refusal)
            return
        flood = self.journal.unproven_within(HOUR) >= s.unproven_per_hour
        verdict: Verdict = await asyncio.to_thread(
            judge,
            mail.msg,
            mail.incoming.raw if mail.incoming.complete else b"",
            senders=s.senders,
            authserv_id=s.trusted_authserv_id,
            dnsfunc=self.dnsfunc,
            trust_authres=self.trust_authres,
            lookups=not flood,
            keys=self.keys,
        )
        sender = verdict.sender
        # a code is tried even in a flood: it costs no lookup, and wrong ones lock TOTP for
        # their claimed sender only (a stranger's junk must not shut the owner's codes out)
        if sender in s.senders:
            assert sender is not None
            verdict = await self._settle_code(mail, verdict, sender, orders.auth_codes)
        if flood and not verdict.trusted:
            verdict.how = f"{verdict.how}; over {s.unproven_per_hour} unproven mails an hour"
        if not verdict.trusted:
            self._reject(mail, sender, verdict.how)
            return
        assert sender is not None and verdict.permission is not None
        # one signature is settled once, before the rate and the age: a stranger replaying
        # a signed mail (a blank line more makes a new journal key) gets it no second
        # answer and costs the owner's rate nothing; the copy counts as unproven mail
        for key in verdict.signatures:
            before = self.journal.use_signature(key, mail.key)
            if before is not None and before != mail.key:
                self.stats["duplicates"] += 1
                self.journal.set_state(mail.key, "rejected", "DKIM signature seen before")
                self._audit(mail, sender, None, "duplicate signature", "not run")
                self.report(
                    f"remote: mail from {sender}: its DKIM signature was seen before; not run"
                )
                return
        machine = automated(mail.msg)
        if machine is not None:
            self._refuse(mail, sender, f"automated mail ({machine}) is never an order")
            return
        why = self._why_not(mail, orders, sender)
        if why is not None:
            reason, reply = why
            await self._refuse_and_reply(mail, sender, reason, reply)
            return
        planned = [text for line in orders.commands for text in split_line(line)]
        self.journal.plan(mail.key, mail.message_id, planned)  # what a stop would leave undone
        await self._run(mail, orders, sender, verdict)

    async def _settle_code(
        self, mail: Mail, verdict: Verdict, sender: str, codes: list[str]
    ) -> Verdict:
        """The verdict once the mail's TOTP code (if any) is used, refused or counted; a
        refused code is explained to the sender's configured address."""
        outcome = self.totp.settle(sender, codes, verdict.trusted)
        for note in outcome.notes:
            self.report(f"remote: {note}")
            self.audit.write(
                sender=sender,
                message_id=mail.message_id,
                command=None,
                verdict="totp",
                outcome=note,
            )
        if outcome.proof is not None:
            permission = lower_permission(self.settings.senders[sender], outcome.cap)
            return Verdict(True, sender, permission, outcome.proof, verdict.signatures)
        if outcome.refusal is not None and not verdict.trusted:
            verdict.how = outcome.refusal
            if outcome.kind is not None:
                await self._tell_code_refused(mail, verdict, sender, outcome.kind)
        return verdict

    async def _tell_code_refused(
        self, mail: Mail, verdict: Verdict, sender: str, kind: str
    ) -> None:
        """Tell the owner why a code was refused, so that a phone does not just go quiet.

        The mail proved nothing (anyone can write From:), so the notice goes to the address
        in [senders], never to Reply-To or to the From: as written; it names the reason
        only (never the code expected nor anything of the secret); at most one per sender in
        ``totp_notice_minutes``; and none for a mail that carries a signature of the
        sender's domain that does not verify (forged or altered), nor for automated mail.
        Its subject is ours: a forger's subject is not relayed to the owner."""
        s = self.settings
        if s.reply is None or verdict.signatures or automated(mail.msg) is not None:
            return
        if not self.journal.code_notice_due(sender, s.totp_notice_minutes * 60):
            return
        original = EmailMessage()
        original["Subject"] = NOTICE_SUBJECT
        try:
            notice_mail = build_reply(
                original, sender, s.reply_from, short_notice(CODE_NOTICES[kind], s.marker)
            )
            await self.replies.send(notice_mail)
        except KshellError as exc:
            self.report(f"remote: code notice to {sender} failed: {clean(str(exc), 300)}")
            return
        self.report(f"remote: told {sender} its code was refused ({kind})")

    def _reject(self, mail: Mail, sender: str | None, how: str) -> None:
        self.stats["rejected"] += 1
        self.journal.set_state(mail.key, "rejected", how, sender=sender)
        self._audit(mail, sender, None, f"rejected: {how}", "not run")
        self.report(
            f"remote: mail from {clean(sender or '?')} rejected ({clean(how, 300)}); "
            "nothing run, no reply"
        )

    def _why_not(self, mail: Mail, orders: Orders, sender: str) -> tuple[str, bool] | None:
        """Why a trusted message runs nothing (and whether to say so), or None to run it."""
        s = self.settings
        if self.journal.ran_within(sender, HOUR) >= s.rate_per_hour:  # before any other reply
            told = self.journal.rate_notice_sent(sender, HOUR)
            return f"rate limit: more than {s.rate_per_hour} messages in an hour", not told
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
            await self._send_reply(
                mail, sender, notice(f"Nothing was run: {reason}.", self.settings.marker)
            )

    async def _run(self, mail: Mail, orders: Orders, sender: str, verdict: Verdict) -> None:
        s = self.settings
        self.stats["ran"] += 1
        self.journal.set_state(mail.key, "running", verdict.how, sender=sender)
        mail_ctx = self._mail_context(verdict.permission or "read")
        sections: list[tuple[str, bool, str]] = []
        shorts: list[str] = []  # each command's result in the fewest words (short replies)
        self.report(f"remote: mail from {sender} ({verdict.how}), {clean(mail.incoming.where)}:")
        commands = [text for line in orders.commands for text in split_line(line)]
        # one budget of time and one of reply bytes for all of the mail's commands
        deadline = time.monotonic() + s.mail_time_budget
        budget = ReplyBudget(s.max_reply_bytes, commands)
        not_run: list[str] = []
        for index, text in enumerate(commands):
            left = deadline - time.monotonic()
            if left <= 0:
                not_run = commands[index:]
                break
            collector = MailCollector(budget.share(len(commands) - index))
            started = time.monotonic()
            ok, stopped = await self._run_one(mail_ctx, text, collector, left)
            took = time.monotonic() - started
            output = collector.text()
            shorts.append("stopped (time budget)" if stopped else collector.summary(ok))
            if stopped:
                output += (
                    f"stopped: the mail's time budget ({s.mail_time_budget:g} s, "
                    "mail_time_budget) ran out\n"
                )
            budget.spend(collector.reply_bytes())
            sections.append((text, ok, output))
            outcome = "stopped (time budget)" if stopped else ("ok" if ok else "failed")
            self._audit(mail, sender, text, f"trusted: {verdict.how}", outcome, took)
            self.report(f"  {s.marker}{clean(text, 300)}")
            for out_line in output.rstrip("\n").splitlines():
                self.report(f"  {clean(out_line, 300)}")
        shorts += [f"not run (time budget): {s.marker}{' '.join(t.split())}" for t in not_run]
        for text in not_run:
            self._audit(mail, sender, text, f"trusted: {verdict.how}", "not run (time budget)")
            self.report(f"  not run (time budget): {s.marker}{clean(text, 300)}")
        failed = sum(1 for _, ok, _ in sections if not ok)
        ran = f"{len(sections)} run, {failed} failed" + (
            f", {len(not_run)} not run (time budget)" if not_run else ""
        )
        self.journal.set_state(mail.key, "done", ran)
        self.last = f"{sender}: {len(sections)} command(s), {failed} failed"
        body = self._transcript(sections, sender, verdict, shorts)
        if not_run and reply_style(s, sender) != "short":  # short replies list them already
            body += "\n" + "".join(
                f"not run (time budget): {s.marker}{' '.join(text.split())}\n" for text in not_run
            )
        await self._send_reply(mail, sender, clip(body, s.max_reply_bytes))

    def _mail_context(self, permission: str) -> Session:
        """The session as one mail sees it: the sender's permission, nobody to ask (the
        operator's --yes is not the sender's), the operator's mail rules; every line passes
        the runner's gate with this Invocation."""
        return self.session.for_invocation(
            Invocation.for_mail(permission, self.settings.mail_rules())
        )

    async def _run_one(
        self, mail_ctx: Session, text: str, collector: MailCollector, left: float
    ) -> tuple[bool, bool]:
        """(ok, stopped): the runner's gate decides what the mail may run and for how long;
        the mail's time budget (``left`` seconds of it) stops it, cancelled cleanly (a
        stream closes its plugs' work before the cancel goes on), if it runs past."""
        try:
            async with asyncio.timeout(left) as limit:
                return await run_line(mail_ctx, text, collector), False
        except TimeoutError:
            if not limit.expired():
                raise
            return False, True

    def _transcript(
        self,
        sections: list[tuple[str, bool, str]],
        sender: str,
        verdict: Verdict,
        shorts: list[str],
    ) -> str:
        style = reply_style(self.settings, sender)
        if style == "short":
            return short_reply(shorts, self.settings.marker)
        failed = sum(1 for _, ok, _ in sections if not ok)
        head = (
            f"kshell ran {len(sections)} command(s) for {sender} ({verdict.how}); {failed} failed."
        )
        return transcript(sections, head, self.settings.marker, style == "compact")

    async def _send_reply(self, mail: Mail, sender: str, body: str) -> None:
        if self.settings.reply is None:
            self.report("remote: no reply server configured ([remote] reply): reply not sent")
            return
        try:
            to = reply_address(mail.msg, sender)
            reply = build_reply(mail.msg, to, self.settings.reply_from, body)
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
        if command is not None:  # a command finished: a stop from now on leaves it done
            self.journal.finished_command(mail.key, command)
        try:
            self.audit.write(
                sender=sender,
                message_id=mail.message_id,
                command=command,
                verdict=verdict,
                outcome=outcome,
                duration=duration,
            )
        except OSError as exc:
            if command is None:
                raise
            # a mail under way goes on when the disk is full: half an order run is worse
            # than an audit line missing (the journal has what finished)
            self.report(
                f"remote: audit log not written for {clean(command, 100)}: {clean(str(exc), 200)}"
            )

    async def report_interrupted(self) -> None:
        """After a stop: what the last listener left unfinished. A mail that ran nothing is
        handled again (the source still has it); one that had run all its commands is done;
        one stopped midway is never re-run, and its sender is told what finished."""
        for stopped in self.journal.interrupted():
            entry = stopped.entry
            who = clean(entry.sender or "?")
            name = clean(entry.key, 120)
            if stopped.outcome == "rerun":
                self.report(
                    f"remote: message {name} from {who} was being checked when the listener "
                    "stopped; nothing had run: it is handled again"
                )
                continue  # its journal line, audit and reply come when it is handled
            if stopped.outcome == "given up":
                self.report(
                    f"remote: message {name} from {who} was being checked when the listener "
                    "stopped, again: nothing ran, and it is not tried again (is it the mail "
                    "that stops the listener?)"
                )
                self.audit.write(
                    sender=entry.sender,
                    message_id=stopped.message_id,
                    command=None,
                    verdict="interrupted while checked, too often",
                    outcome="not run",
                )
                continue
            if stopped.outcome == "done":
                self.report(
                    f"remote: message {name} from {who} had run all its commands when the "
                    "listener stopped: done"
                )
                continue
            self.report(
                f"remote: message {name} from {who} was running when the listener stopped: "
                f"not run again; finished: {len(stopped.finished)} of {len(stopped.planned)} "
                "(check the plugs by hand)"
            )
            self.audit.write(
                sender=entry.sender,
                message_id=stopped.message_id,
                command=None,
                verdict="interrupted",
                outcome="unknown: not re-run; finished: "
                + clean("; ".join(stopped.finished) or "none", 500),
            )
            if entry.sender in self.settings.senders:
                await self._tell_interrupted(stopped, entry.sender)

    async def _tell_interrupted(self, stopped: Stopped, sender: str) -> None:
        """The sender's notice of a mail stopped midway: what finished, what may have
        started, what did not run; in reply to the order (its subject and Message-ID)."""
        from email.message import Message

        done = stopped.finished
        rest = stopped.planned[len(done) :]
        m = self.settings.marker
        lines = ["The listener stopped while it ran your order; nothing of it is run again."]
        lines += ["Finished:", *(f"{m}{c}" for c in done)] if done else ["Finished: none."]
        if rest:
            lines += ["Maybe started (check it):", f"{m}{rest[0]}"]
        if rest[1:]:
            lines += ["Not run:", *(f"{m}{c}" for c in rest[1:])]
        original = Message()
        original["Subject"] = stopped.entry.subject or "kshell"
        original["Message-ID"] = stopped.message_id
        if self.settings.reply is None:
            return
        try:
            reply = build_reply(
                original, sender, self.settings.reply_from, notice("\n".join(lines), m)
            )
            await self.replies.send(reply)
        except KshellError as exc:
            self.report(f"remote: notice to {sender} failed: {clean(str(exc), 300)}")
            return
        self.journal.mark_replied(stopped.entry.key)


def split_line(line: str) -> list[str]:
    """One mail line -> its commands (``;``); a line that does not parse runs as it is,
    so the transcript shows the grammar's own error."""
    try:
        return [cmd.text for cmd in split_commands(line)] or []
    except KshellError:
        return [line]


def _count_commands(line: str) -> int:
    return len(split_line(line))
