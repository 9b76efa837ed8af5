"""An IMAP mailbox as the source (aioimaplib): IDLE when the server offers it, polling if not.

Messages are keyed by UIDVALIDITY+UID (never sequence numbers or \\Seen flags, which
pollers re-ran mail with after a crash), fetched with BODY.PEEK (nothing is marked read
before the journal has it), and moved to the processed folder with UID MOVE (or COPY +
\\Deleted + EXPUNGE where MOVE is missing) after the journal has them. When the server
drops the connection the source reconnects with exponential backoff and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from typing import Any

from kshell.app.remote.settings import RemoteSettings, SourceSpec
from kshell.app.remote.sources.base import Handler, Incoming, Reporter, Step

POLL = 1.0  # seconds between checks when the server has no IDLE
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 30.0
MOVE_BATCH = 50  # handled messages moved by one UID MOVE while a backlog drains
TIMEOUT = 15.0  # per IMAP command


class ImapFailure(Exception):
    """The server said NO or BAD, or the connection is gone."""


def quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(lines: list[Any]) -> str:
    return " ".join(
        bytes(x).decode("utf-8", "replace") for x in lines if isinstance(x, (bytes, bytearray))
    )


class ImapSource:
    trust_authres = True  # the operator's mail server delivered into this mailbox

    def __init__(self, spec: SourceSpec, settings: RemoteSettings, report: Reporter) -> None:
        self.spec = spec
        self.settings = settings
        self.report = report
        self.uidvalidity = ""
        self.connected = False
        self.reconnects = 0
        self._lost = asyncio.Event()
        self._to_move: list[int] = []

    def describe(self) -> str:
        return self.spec.describe()

    def prepare(self) -> None:
        """Nothing to do before running: the connection is made (and retried) by ``run``."""

    # -- connection -----------------------------------------------------------------------

    async def _connect(self) -> Any:
        self._lost = asyncio.Event()
        lost = self._lost

        def on_lost(exc: Exception | None) -> None:
            lost.set()

        context = ssl.create_default_context() if self.spec.tls else None
        client = _client_class()(
            host=self.spec.host,
            port=self.spec.port,
            timeout=TIMEOUT,
            conn_lost_cb=on_lost,
            ssl_context=context,
        )
        try:
            await client.wait_hello_from_server()
            response = await client.login(self.spec.user, self.spec.password)
            if response.result != "OK":
                raise ImapFailure(f"login refused for {self.spec.user}: {_text(response.lines)}")
            await client.protocol.capability()  # the list after login names MOVE, UIDPLUS...
        except BaseException:
            _abandon(client)
            raise
        return client

    async def _select(self, client: Any) -> None:
        response = await client.select(quote(self.spec.folder))
        if response.result != "OK":
            raise ImapFailure(f"cannot open folder {self.spec.folder}: {_text(response.lines)}")
        found = re.search(r"UIDVALIDITY (\d+)", _text(response.lines))
        self.uidvalidity = found.group(1) if found else "0"
        response = await client.create(quote(self.settings.processed_folder))
        if response.result != "OK" and "ALREADYEXISTS" not in _text(response.lines).upper():
            raise ImapFailure(
                f"cannot create folder {self.settings.processed_folder}: {_text(response.lines)}"
            )

    async def run(self, handle: Handler) -> None:
        delay = BACKOFF_FIRST
        while True:
            client = None
            try:
                client = await self._connect()
                self._to_move.clear()  # UIDs of another connection: found again, journal decides
                await self._select(client)
                if self.reconnects:
                    self.report(f"remote: reconnected to {self.describe()}")
                self.connected, delay = True, BACKOFF_FIRST
                await self._serve(client, handle)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure of the link means: try again
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self.report(
                    f"warning: remote: {self.describe()}: {reason}; reconnecting in {delay:.1f} s"
                )
                self.connected = False
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                if client is not None:
                    await _logout(client)
                    await _release(client)

    async def _serve(self, client: Any, handle: Handler) -> None:
        idle = "IDLE" in client.protocol.capabilities
        while True:
            client.protocol.exists_seen = False
            for uid in await self._new_uids(client):
                incoming = await self._fetch(client, uid)
                if incoming is not None:
                    await handle(incoming)
                if len(self._to_move) >= MOVE_BATCH:
                    await self._flush_moves(client)
            await self._flush_moves(client)
            if self._lost.is_set():
                raise ImapFailure("connection lost")
            if client.protocol.exists_seen:
                # the server announced new mail in the answer to one of our commands: it will
                # not announce it again when IDLE starts, so search again first
                continue
            if idle:
                await self._idle(client)
            else:
                await asyncio.sleep(POLL)
                await client.noop()

    async def _new_uids(self, client: Any) -> list[int]:
        response = await client.uid_search("ALL", charset=None)
        if response.result != "OK":
            raise ImapFailure(f"search failed: {_text(response.lines)}")
        uids: list[int] = []
        for line in response.lines[:-1]:  # the last line is the completion text
            words = bytes(line).decode("ascii", "replace").split()
            if words and words[0].upper() == "SEARCH":  # aioimaplib usually strips it
                words = words[1:]
            if words and all(w.isdigit() for w in words):  # not "3 EXISTS" and the like
                uids += [int(w) for w in words]
        return sorted(set(uids))

    async def _fetch(self, client: Any, uid: int) -> Incoming | None:
        limit = self.settings.max_message_bytes
        response = await client.uid("fetch", str(uid), f"(RFC822.SIZE BODY.PEEK[]<0.{limit + 1}>)")
        if response.result != "OK":
            raise ImapFailure(f"fetch of uid {uid} failed: {_text(response.lines)}")
        raw = b""
        size = 0
        for line in response.lines:
            if isinstance(line, bytearray):
                raw = bytes(line)
            elif isinstance(line, bytes) and b"RFC822.SIZE" in line:
                found = re.search(rb"RFC822\.SIZE (\d+)", line)
                size = int(found.group(1)) if found else 0
        if not raw and not size:
            return None  # gone since the search (moved or expunged by someone else)
        size = size or len(raw)

        async def finish() -> None:
            self._to_move.append(uid)  # moved in one command with the others of this round

        key = f"imap:{self.spec.host}:{self.spec.user}:{self.spec.folder}:{self.uidvalidity}:{uid}"
        return Incoming(raw, size, size <= limit, key, f"{self.spec.folder} uid {uid}", finish)

    async def _flush_moves(self, client: Any) -> None:
        """Move the handled messages (the journal has them all) to the processed folder."""
        if not self._to_move:
            return
        uids = ",".join(str(uid) for uid in self._to_move)
        self._to_move.clear()  # if the move fails, the journal knows them: moved next time
        folder = quote(self.settings.processed_folder)
        if "MOVE" in client.protocol.capabilities:
            response = await client.uid("move", uids, folder)
        else:
            response = await client.uid("copy", uids, folder)
            if response.result == "OK":
                await client.uid("store", uids, "+FLAGS.SILENT", r"(\Deleted)")
                if "UIDPLUS" in client.protocol.capabilities:
                    response = await client.uid("expunge", uids)
                else:
                    response = await client.expunge()
        if response.result != "OK":
            raise ImapFailure(
                f"cannot move uid {uids} to {self.settings.processed_folder}: "
                f"{_text(response.lines)}"
            )

    async def _idle(self, client: Any) -> None:
        """Wait in IDLE until the folder grows, the link drops, or it is time to refresh.

        Every future started here is cancelled and collected on the way out, however it is
        left (a cancel from ``remote off`` included): a wait left pending raised its
        TimeoutError into the shell's loop minutes later."""
        from aioimaplib import STOP_WAIT_SERVER_PUSH

        queue = client.protocol.idle_queue
        while not queue.empty():  # pushes left from an earlier IDLE: already searched since
            queue.get_nowait()
        refresh = self.settings.idle_refresh  # well before servers drop an idle client
        idle_task = await client.idle_start(timeout=refresh)
        lost = asyncio.ensure_future(self._lost.wait())
        push: asyncio.Future[Any] | None = None
        try:
            while True:
                push = asyncio.ensure_future(client.wait_server_push(refresh + 5))
                done, _ = await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    raise ImapFailure("connection lost")
                lines = push.result()
                if lines == STOP_WAIT_SERVER_PUSH:
                    break
                if any(
                    b"EXISTS" in bytes(line)
                    for line in lines
                    if isinstance(line, (bytes, bytearray))
                ):
                    break
        finally:
            await _collect(lost, push)
            if not self._lost.is_set() and client.protocol.has_pending_idle_command():
                client.idle_done()
                with contextlib.suppress(Exception):  # the next command will tell
                    await asyncio.wait_for(asyncio.shield(idle_task), TIMEOUT)
            await _collect(idle_task)

    # -- remote test ----------------------------------------------------------------------

    async def check(self) -> list[Step]:
        where = f"{self.spec.host}:{self.spec.port}"
        steps: list[Step] = []
        client = None
        try:
            client = await self._connect()
            steps.append(("source: imap login", True, f"{self.spec.user} at {where}"))
            await self._select(client)
            count = len(await self._new_uids(client))
            caps = client.protocol.capabilities
            mode = "IDLE" if "IDLE" in caps else f"polling every {POLL:g} s (no IDLE)"
            steps.append(
                ("source: folder", True, f"{self.spec.folder}: {count} message(s) waiting")
            )
            steps.append(("source: processed folder", True, self.settings.processed_folder))
            steps.append(("source: new mail", True, mode + ("; MOVE" if "MOVE" in caps else "")))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as a failed step
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            label = "source: imap login" if not steps else "source: folder"
            steps.append((label, False, f"{where}: {reason}"))
        finally:
            if client is not None:
                await _logout(client)
        return steps


@functools.cache
def _client_class() -> Any:
    """aioimaplib's client, noting every ``EXISTS`` the server sends.

    aioimaplib drops an ``EXISTS`` that arrives inside the answer to another command (a
    SEARCH, say); a listener that then enters IDLE would wait for mail already there.
    """
    import aioimaplib

    class Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # aioimaplib: untyped
        exists_seen = False

        def _untagged_response(self, line: bytes) -> Any:
            if line.rstrip().upper().endswith(b"EXISTS"):
                self.exists_seen = True
            return super()._untagged_response(line)

    class Client(aioimaplib.IMAP4):  # type: ignore[misc]  # aioimaplib ships no types
        def create_client(
            self, host: str, port: int, loop: Any, conn_lost_cb: Any = None, ssl_context: Any = None
        ) -> None:
            loop = loop or asyncio.get_running_loop()
            self.protocol = Protocol(loop, conn_lost_cb)
            self._client_task = loop.create_task(
                loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
            )

    return Client


async def _logout(client: Any) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):  # the link may be gone already
        await asyncio.wait_for(client.logout(), 2)
    _abandon(client)


async def _collect(*futures: asyncio.Future[Any] | None) -> None:
    """Cancel ``futures`` and wait until each has finished, its outcome taken (so none is
    reported later as "exception never retrieved"); a cancel of the caller waits for them too."""
    pending = [f for f in futures if f is not None]
    for future in pending:
        future.cancel()
    if not pending:
        return
    try:
        await asyncio.wait(pending)
    finally:
        for future in pending:
            if future.done() and not future.cancelled():
                future.exception()  # taken: the failure, if any, ended with the connection


async def _release(client: Any) -> None:
    """Everything aioimaplib started for ``client`` and did not stop by itself: its IDLE
    timer, its tasks (the IDLE command, the wait for its answer), and the timeout handles
    of commands left waiting when the link went."""
    waiter = getattr(client, "_idle_waiter", None)
    if waiter is not None:
        waiter.cancel()
        client._idle_waiter = None
    protocol = client.protocol
    commands = [protocol.pending_sync_command, *protocol.pending_async_commands.values()]
    for command in commands:
        timer = getattr(command, "_timer", None)
        if timer is not None:
            timer.cancel()
    await _collect(*getattr(client, "tasks", ()), *getattr(protocol, "tasks", ()))


def _abandon(client: Any) -> None:
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()
