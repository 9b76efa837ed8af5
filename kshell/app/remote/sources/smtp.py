"""Our own SMTP listener (aiosmtpd): mail delivered straight to the shell.

Each message accepted is first written to a Maildir in the state folder (``250`` only
after it is on disk, as a mail server must), then handled from there exactly like the
Maildir source, so a crash after ``250`` loses nothing and the processed folder is the
same ``.Executed``. Authentication-Results headers are not trusted here: no server of
ours wrote them, the sender did.

What it keeps is bounded at DATA time: a message over ``max_message_bytes`` is refused in the
dialogue (552), and one whose From: is not on the allowlist is dropped unwritten (answered
250 like any other: a refusal would be an allowlist oracle): a stranger cannot fill the disk. One who writes an allowed address in From: is
kept only until the mail proves no sender: then it is deleted (the journal and the audit
log keep the record).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

from kshell.app.remote.settings import RemoteSettings, SourceSpec
from kshell.app.remote.sources.base import Handler, Reporter, Screener, Step
from kshell.app.remote.sources.maildir import MaildirSource, ensure_maildir
from kshell.errors import KshellError
from kshell.home import EXCLUSIVE


class _Deliver:
    """aiosmtpd handler: write the message into the Maildir, then wake the reader."""

    def __init__(self, maildir: Path, wake: Any, senders: dict[str, str]) -> None:
        self.maildir = maildir
        self.wake = wake
        self.senders = senders
        self.count = 0
        self.dropped = 0  # mail whose From: is not on the allowlist: never written

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if _claimed_sender(bytes(data)) not in self.senders:
            # dropped unwritten, but answered as an allowed sender's mail is: a 550 here
            # would tell a stranger, address by address, who may send orders
            self.dropped += 1
            return "250 Message accepted for delivery"
        self.count += 1
        name = f"{time.time():.6f}.P{os.getpid()}Q{self.count}.{socket.gethostname() or 'kshell'}"
        try:
            await asyncio.to_thread(self._write, name, bytes(data))
        except OSError:
            return "451 Requested action aborted: local error in processing"
        self.wake()
        return "250 Message accepted for delivery"

    def _write(self, name: str, data: bytes) -> None:
        ensure_maildir(self.maildir)
        tmp = self.maildir / "tmp" / name
        with open(os.open(tmp, EXCLUSIVE, 0o600), "wb") as handle:  # mail is the user's alone
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.maildir / "new" / name)


class _Sessions:
    """How many SMTP sessions are open: each holds a descriptor for up to its 60 s timeout,
    so a stranger opening thousands would starve the plugs' connections of descriptors."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.most:
            return False
        self.open += 1
        return True


class _Busy(asyncio.Protocol):
    """A connection over the bound: told so at once (RFC 5321 421) and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 kshell too many connections, try again later\r\n")
        transport.close()


def _claimed_sender(data: bytes) -> str | None:
    """The bare From: address of a message's head (None: none, several, or junk)."""
    from email.parser import BytesParser
    from email.policy import compat32

    from kshell.app.remote.trust import from_address

    head = data[:65536]
    try:
        return from_address(BytesParser(policy=compat32).parsebytes(head, headersonly=True))
    except Exception:  # noqa: BLE001 - junk headers claim no one
        return None


class SmtpSource:
    trust_authres = False
    screen: Screener | None = None  # its store holds only what was sent to it

    def __init__(
        self, spec: SourceSpec, settings: RemoteSettings, maildir: Path, report: Reporter
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.report = report
        self.store = MaildirSource(maildir, settings, report, keep_rejected=False)
        self.server: asyncio.AbstractServer | None = None

    def describe(self) -> str:
        return self.spec.describe()

    async def _listen(self) -> asyncio.AbstractServer:
        from aiosmtpd.smtp import SMTP

        deliver = _Deliver(self.store.root, self.store.wake, self.settings.senders)
        limit = self.settings.max_message_bytes
        loop = asyncio.get_running_loop()
        sessions = _Sessions(self.settings.smtp_connections)

        class CountedSMTP(SMTP):
            def connection_lost(self, exc: Exception | None) -> None:
                sessions.open -= 1  # however the session ends
                super().connection_lost(exc)

        def session() -> asyncio.BaseProtocol:
            if not sessions.take():
                return _Busy()
            return CountedSMTP(
                deliver,
                data_size_limit=limit,
                enable_SMTPUTF8=True,
                hostname="kshell",
                timeout=60,
                loop=loop,
            )

        return await loop.create_server(session, self.spec.host, self.spec.port)

    def prepare(self) -> None:
        self.store.prepare()

    async def bind(self) -> None:
        """Listen now, so that a port in use is reported by ``remote on`` itself."""
        if self.server is None:
            try:
                self.server = await self._listen()
            except OSError as exc:
                raise KshellError(
                    f"cannot listen on {self.spec.host}:{self.spec.port}: {exc.strerror or exc}"
                ) from None

    async def run(self, handle: Handler) -> None:
        self.store.prepare()
        await self.bind()
        assert self.server is not None
        try:
            await self.store.run(handle)
        finally:
            self.server.close()
            self.server = None

    async def check(self) -> list[Step]:
        steps = await self.store.check()
        if self.server is not None:
            return [
                ("source: smtp listener", True, f"listening on {self.spec.host}:{self.spec.port}"),
                *steps,
            ]
        try:
            server = await self._listen()
            server.close()
            await server.wait_closed()
            steps.insert(
                0,
                ("source: smtp listener", True, f"can listen on {self.spec.host}:{self.spec.port}"),
            )
        except OSError as exc:
            steps.insert(
                0,
                (
                    "source: smtp listener",
                    False,
                    f"{self.spec.host}:{self.spec.port}: {exc.strerror or exc}",
                ),
            )
        return steps
