"""Remote mode as a service: started by ``remote on`` (a task in the shell's own loop) or by
``python shell.py --listen`` (headless, until SIGTERM or SIGINT).

It owns the journal (and its lock: one listener per journal), the audit log, the reply
connection and the source, and reports every mail through one ``report`` callable: a
plain print above the prompt, or the headless output.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

from kshell.app.remote.audit import AuditLog
from kshell.app.remote.dispatch import Dispatcher
from kshell.app.remote.journal import Journal
from kshell.app.remote.processor import Processor
from kshell.app.remote.reply import ReplySender
from kshell.app.remote.settings import RemoteSettings, load_settings
from kshell.app.remote.sources import make_source
from kshell.app.remote.sources.base import Reporter, Source, Step
from kshell.app.remote.trust import DnsFunc
from kshell.core.session import Session
from kshell.errors import KshellError, UsageError
from kshell.text import clean

JOURNAL_NAME = "remote-journal.sqlite"
AUDIT_NAME = "remote-audit.log"
FINISH_GRACE_S = 10.0  # stop(finish=True): beyond the mails' budget, for replies and moves


class RemoteService:
    def __init__(
        self, session: Session, report: Reporter, *, dnsfunc: DnsFunc | None = None
    ) -> None:
        self.session = session
        self.report = report
        self.dnsfunc = dnsfunc
        self.settings: RemoteSettings = load_settings(session.config, session.paths.data)
        if dnsfunc is None and self.settings.dns is not None:
            from kshell.app.remote.dns import resolver_lookup

            self.dnsfunc = resolver_lookup(*self.settings.dns)
        self.source: Source = make_source(self.settings, session.paths.data, report)
        self.replies = ReplySender(self.settings.reply, ca_file=self.settings.ca_file)
        self.journal: Journal | None = None
        self.processor: Processor | None = None
        self.task: asyncio.Task[None] | None = None
        self.dispatcher: Dispatcher | None = None
        self.failure: str | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def describe(self) -> str:
        return self.source.describe()

    @property
    def has_senders(self) -> bool:
        return bool(self.settings.senders)

    async def start(self) -> None:
        from kshell.app.remote.totp import read_secrets

        read_secrets(self.settings.totp_file)  # a secrets file others can read: refused here
        if self.settings.secret:
            self.report(
                "remote: [remote] secret is shared by every sender, so a code made with it "
                "proves read at most; give each sender its own: remote totp add ADDRESS"
            )
        journal = Journal(
            self.session.paths.data / JOURNAL_NAME
        )  # raises if another listener has it
        try:
            from kshell.app.remote.sources.lock import lock_source

            journal.hold(lock_source(self.settings.source))  # another home's listener: refused
            if self.settings.folder_shared:  # an INBOX: only orders are taken from it
                from kshell.app.remote.screen import Screen

                self.source.screen = Screen(self.settings, journal)
            self.source.prepare()
            bind = getattr(self.source, "bind", None)  # the SMTP listener takes its port now
            if bind is not None:
                await bind()
            self.processor = Processor(
                self.session,
                self.settings,
                journal,
                AuditLog(self.session.paths.data / AUDIT_NAME),
                self.replies,
                self.report,
                trust_authres=self.source.trust_authres,
                dnsfunc=self.dnsfunc,
            )
            await self.processor.report_interrupted()
            self.dispatcher = Dispatcher(
                self.processor, self.session, self.settings.mail_concurrency
            )
        except BaseException:
            journal.close()
            raise
        self.journal = journal
        self.task = asyncio.create_task(self._run(), name="kshell-remote")
        self.session.remote = self  # the toolbar and `remote status` find it here

    async def _run(self) -> None:
        assert self.dispatcher is not None
        try:
            await self.source.run(self.dispatcher)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - said once; the shell goes on
            self.failure = f"{type(exc).__name__}: {exc}"
            self.report(f"error: remote: stopped: {clean(self.failure, 300)}")

    async def stop(self, *, finish: bool = False) -> None:
        """Stop listening. ``finish``: take no new mail, let the mails in hand end (each
        within its time budget) and be moved, then stop; otherwise cancel them now (the
        journal has them as running: reported at the next start)."""
        if finish and self.dispatcher is not None and self.task is not None:
            grace = self.settings.mail_time_budget + FINISH_GRACE_S
            await self.dispatcher.drain(grace)
            # the source sees the hand empty and returns once the moves are done
            await asyncio.wait({self.task}, timeout=FINISH_GRACE_S)
        if self.task is not None:
            # cancel until it is done: a library's wait_for (Python 3.11) can swallow one cancel
            while not self.task.done():
                self.task.cancel()
                await asyncio.wait({self.task}, timeout=1)
            with contextlib.suppress(asyncio.CancelledError, Exception):  # already reported
                self.task.result()
            self.task = None
        if self.dispatcher is not None:
            await self.dispatcher.cancel()
        await asyncio.to_thread(self.replies.close)
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.session.remote is self:
            self.session.remote = None

    def reload(self) -> bool:
        """SIGHUP: read the config again. A good one takes effect from the next mail on
        (senders, limits, marker, reply format); a bad one is refused in one line and the
        one in use is kept. The source and the reply server stay as they are until a
        restart (a connection is not swapped under a mail in hand)."""
        from dataclasses import replace

        from kshell.store.config import load_config

        where = self.session.paths.config_file
        try:
            if not where.is_file():  # gone, not emptied: the defaults would shut everyone out
                raise UsageError(f"config {where} is missing")
            config = load_config(where, write_default=False)
            settings = load_settings(config, self.session.paths.data)
        except (KshellError, OSError) as exc:
            self.report(f"error: remote: {where} not reloaded, the old config is kept: {exc}")
            return False
        kept = [
            name
            for name, old, new in (
                ("source", self.settings.source, settings.source),
                ("reply", self.settings.reply, settings.reply),
            )
            if old != new
        ]
        settings = replace(settings, source=self.settings.source, reply=self.settings.reply)
        self.settings = settings
        self.source.settings = settings  # type: ignore[attr-defined]  # every source has them
        if self.processor is not None:
            self.processor.settings = settings
        self.report(f"remote: reloaded {where}: {len(settings.senders)} sender(s)")
        if kept:
            self.report(
                f"warning: remote: [remote] {' and '.join(kept)} changed: "
                "they take effect at the next start"
            )
        return True

    def status(self) -> dict[str, Any]:
        s = self.settings
        info: dict[str, Any] = {
            "state": "on"
            if self.running
            else ("stopped: " + self.failure if self.failure else "off"),
            "source": self.describe(),
            **({"connected": self.source.connected} if hasattr(self.source, "connected") else {}),
            "reply": s.reply.describe() if s.reply else "not configured",
            "senders": len(s.senders),
            "marker": s.marker,
        }
        from kshell.app.remote.totp import TotpBook

        own = TotpBook(s.totp, s.totp_file).senders()
        info["totp"] = f"{len(own)} sender(s) with their own secret" + (
            "; shared secret: read at most" if s.secret else ""
        )
        if self.processor is not None:
            info.update(self.processor.stats)
            if self.processor.last:
                info["last"] = self.processor.last
        if self.journal is not None:
            info["journal"] = ", ".join(
                f"{k} {v}" for k, v in sorted(self.journal.counts().items())
            )
            locked = self.journal.totp_locks()
            if locked:
                info["totp locked"] = ", ".join(locked)
        return info

    async def test(self) -> list[Step]:
        """Each configured path, step by step: the source, then the reply server."""
        steps: list[Step] = []
        if not self.settings.senders:
            steps.append(("senders", False, "no [senders]: every mail would be rejected"))
        else:
            steps.append(("senders", True, f"{len(self.settings.senders)} allowed"))
        steps += await self.source.check()
        if self.settings.folder_shared:
            warning = (
                "warning: this folder (an INBOX) holds other mail too; kshell takes only "
                "orders from it, but a dedicated folder filled by a server-side filter is "
                "safer (README: remote mode in a real home)"
            )
            steps.append(("source: shared", True, warning))
        steps += await self.replies.check()
        return steps


async def run_headless(session: Session, output: Any) -> int:
    """``--listen``: remote mode without a prompt. SIGHUP reloads the config, SIGTERM lets
    the mail in hand finish and exits 0, SIGINT (Ctrl-C) stops at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    finish: list[bool] = []  # how it was asked to stop

    def stop_after(finish_mail: bool) -> None:
        finish.append(finish_mail)
        stop.set()

    handlers = {
        signal.SIGTERM: lambda: stop_after(True),
        signal.SIGINT: lambda: stop_after(False),
        signal.SIGHUP: lambda: None,  # until the service is there: a reload of nothing
    }
    handled: list[signal.Signals] = []
    for sig, handler in handlers.items():  # before saying "listening": a stop is clean
        try:
            loop.add_signal_handler(sig, handler)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        service = RemoteService(session, output.note)
        await service.start()
    except BaseException:
        for sig in handled:
            loop.remove_signal_handler(sig)
        raise
    if signal.SIGHUP in handled:
        loop.add_signal_handler(signal.SIGHUP, service.reload)
    reply = service.settings.reply.describe() if service.settings.reply else "no reply server"
    output.note(
        f"remote: listening on {service.describe()}; replies via {reply}; "
        "stop with Ctrl-C or SIGTERM, reload the config with SIGHUP"
    )
    waiter = asyncio.ensure_future(stop.wait())
    try:
        assert service.task is not None
        await asyncio.wait({waiter, service.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        try:
            if finish and finish[0]:
                output.note("remote: SIGTERM: finishing the mail in hand, then stopping")
            await service.stop(finish=bool(finish and finish[0]))
        finally:  # kept while the mail finishes: a second SIGTERM or a SIGHUP must not kill it
            for sig in handled:
                loop.remove_signal_handler(sig)
    if service.failure:
        raise KshellError(f"remote mode stopped: {service.failure}")
    output.note("remote: stopped")
    return 0


def printer(session: Session) -> Callable[[str], None]:
    """Report lines for the interactive shell, printed above the prompt (the repl's
    ``print_above`` when it offers one, else a plain print, which patch_stdout moves up)."""
    above = session.ports.print_above

    def show(text: str) -> None:
        if above is not None:
            above(clean(text, 2000))
        else:
            print(clean(text, 2000), flush=True)

    return show
