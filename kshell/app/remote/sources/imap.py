"""An IMAP mailbox as the source (aioimaplib): IDLE when the server offers it, polling if not.

Messages are keyed by UIDVALIDITY+UID (never sequence numbers or \\Seen flags, which
pollers re-ran mail with after a crash), fetched with BODY.PEEK (nothing is marked read
before the journal has it), and moved to the processed folder with UID MOVE (or COPY +
\\Deleted + EXPUNGE where MOVE is missing) after the journal has them. When the server
drops the connection the source reconnects with exponential backoff and goes on.

It logs in by LOGIN (a password from the URL or a command) or by AUTHENTICATE XOAUTH2 /
OAUTHBEARER (a token from a command; a refused one is answered with the dummy response and
asked for again once), over IMAPS or STARTTLS verified by ``tls.py``; aioimaplib has no
STARTTLS and no OAUTHBEARER, so both are done here through its command machinery.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from kshell.app.remote.auth import (
    DUMMY_RESPONSE,
    AuthError,
    Credentials,
    bounded,
    challenge_status,
    initial_response,
)
from kshell.app.remote.settings import RemoteSettings, SourceSpec
from kshell.app.remote.sources.base import Handler, Incoming, Reporter, Screener, Step
from kshell.app.remote.tls import client_context, describe_tls_error

POLL = 1.0  # seconds between checks when the server has no IDLE
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 30.0
MOVE_BATCH = 50  # handled messages moved by one UID MOVE while a backlog drains
TIMEOUT = 15.0  # per IMAP command
STOP_IDLE_RETRY = 0.02  # seconds before ending IDLE is asked again (it may not have begun)


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
    screen: Screener | None = None  # a shared folder (INBOX): only orders are taken

    def __init__(self, spec: SourceSpec, settings: RemoteSettings, report: Reporter) -> None:
        self.spec = spec
        self.settings = settings
        self.report = report
        self.uidvalidity = ""
        self.connected = False
        self.reconnects = 0
        self._lost = asyncio.Event()
        self._to_move: list[int] = []
        self._left: set[str] = set()  # mailbox keys of a shared folder's mail that is no order
        self._credentials = Credentials(spec.auth, spec.password)  # kept across reconnects

    def describe(self) -> str:
        return self.spec.describe()

    def prepare(self) -> None:
        """Nothing to do before running: the connection is made (and retried) by ``run``."""

    # -- connection -----------------------------------------------------------------------

    async def _connect(self, steps: list[Step] | None = None) -> Any:
        """A logged-in client: connect, TLS (implicit or STARTTLS, always verified), log in.

        A failure is an AuthError whose ``step`` names the stage; ``steps`` (for ``remote
        test``) gets each stage that worked.
        """
        self._lost = asyncio.Event()
        lost = self._lost

        def on_lost(exc: Exception | None) -> None:
            lost.set()

        spec = self.spec
        where = f"{spec.host}:{spec.port}"
        context = client_context(self.settings.ca_file) if spec.tls or spec.starttls else None
        client = _client_class()(
            host=spec.host,
            port=spec.port,
            timeout=TIMEOUT,
            conn_lost_cb=on_lost,
            ssl_context=context if spec.tls else None,
        )
        try:
            try:
                await client.wait_hello_from_server()
            except ssl.SSLError as exc:
                raise AuthError(f"{where}: {describe_tls_error(exc)}", "TLS") from None
            except (TimeoutError, OSError) as exc:
                raise AuthError(f"{where}: cannot connect: {_reason(exc)}", "connect") from None
            _note(steps, "connect", where)
            if spec.tls:
                _note(steps, "TLS", f"implicit TLS, certificate verified for {spec.host}")
            if context is not None and spec.starttls:
                await _starttls(client, context, spec.host)
                _note(steps, "TLS", f"STARTTLS, certificate verified for {spec.host}")
            await self._login(client)
            _note(steps, "auth", f"{spec.user} ({spec.auth.describe()})")
            await client.protocol.capability()  # the list after login names MOVE, UIDPLUS...
        except BaseException:
            _abandon(client)
            raise
        return client

    async def _login(self, client: Any) -> None:
        """Log in with the password or token; once refused, ask the command again and retry
        (an access token expires within the hour; a password may have been changed)."""
        spec = self.spec
        if client.protocol.state == "AUTH":  # PREAUTH: the server already knows us
            return
        for fresh in (False, True):
            secret = await asyncio.to_thread(self._credentials.secret, fresh)
            if spec.auth.oauth:
                response, said = await _authenticate(client, spec, secret)
            else:
                response = await client.login(spec.user, secret)
                said = ""
            if response.result == "OK":
                return
            if fresh or not self._credentials.refreshable:
                text = said or bounded(_text(response.lines))
                raise AuthError(f"{spec.auth.kind} refused for {spec.user}: {text}", "auth")

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
                if handle.closing:
                    break
                if uid in self._to_move:
                    continue  # finished, its move not sent yet: not offered again
                incoming = await self._fetch(client, uid)
                if incoming is not None and not handle.in_hand(incoming.where):
                    incoming.finish = self._same_mailbox(incoming.finish)
                    await handle(incoming)  # journaled now; finished (queued to move) later
                if len(self._to_move) >= MOVE_BATCH:
                    await self._flush_moves(client)
            await self._flush_moves(client)
            if self._lost.is_set():
                raise ImapFailure("connection lost")
            if handle.closing and not handle.busy and not self._to_move:
                return  # stopping: every mail in hand is finished and moved
            if client.protocol.exists_seen and not handle.closing:
                # the server announced new mail in the answer to one of our commands: it will
                # not announce it again when IDLE starts, so search again first
                continue
            await self._wait_for_news(client, handle, idle)

    def _same_mailbox(self, finish: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """``finish`` for a mail that may end after a reconnect: its UID is moved only while
        the folder's UIDVALIDITY is the one it was fetched under (else the UID may name
        another mail now; the journal has this one, so it is moved when found again)."""
        validity = self.uidvalidity

        async def finish_if_same() -> None:
            if self.uidvalidity == validity:
                await finish()

        return finish_if_same

    async def _wait_for_news(self, client: Any, handle: Handler, idle: bool) -> None:
        """IDLE (or a poll) until the folder grows, or until a mail in hand is finished:
        its move is due now, not at the next IDLE refresh."""
        if self._to_move:
            return
        if not idle:
            await asyncio.sleep(POLL)  # a finished mail waits one poll at most
            await client.noop()
            return
        from aioimaplib import STOP_WAIT_SERVER_PUSH

        waiting = asyncio.ensure_future(self._idle(client))
        try:
            finished = asyncio.ensure_future(handle.finished())
            try:
                await asyncio.wait({waiting, finished}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                finished.cancel()
            # a mail was finished: IDLE is ended the way its own refresh ends it (a cancel
            # could land before DONE and leave the server idling under the next command);
            # said again until heard, as IDLE may begin by emptying the queue
            while not waiting.done():
                client.protocol.idle_queue.put_nowait(STOP_WAIT_SERVER_PUSH)
                await asyncio.wait({waiting}, timeout=STOP_IDLE_RETRY)
        finally:
            if not waiting.done():  # we are being stopped: the link goes with us
                waiting.cancel()
        waiting.result()  # a lost link is raised here

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
        key = f"imap:{self.spec.host}:{self.spec.user}:{self.spec.folder}:{self.uidvalidity}:{uid}"
        screen = self.screen
        if screen is not None and (key in self._left or screen.known(key)):
            self._left.add(key)
            return None  # no order, seen before: not fetched again
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

        incoming = Incoming(raw, size, size <= limit, key, f"{self.spec.folder} uid {uid}", finish)
        if screen is not None and screen.leave(incoming, key):
            self._left.add(key)  # read with BODY.PEEK: it stays unread, where it is
            return None
        return incoming

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
        """Each stage, for ``remote test``: connect, TLS, auth, then the folders; a failed one
        says what the server said (bounded, cleaned) and no secret."""
        where = f"{self.spec.host}:{self.spec.port}"
        steps: list[Step] = []
        client = None
        try:
            client = await self._connect(steps)
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
        except AuthError as exc:
            steps.append((f"source: {exc.step}", False, bounded(exc.message)))
        except Exception as exc:  # noqa: BLE001 - reported as a failed step
            done = {name for name, _, _ in steps}
            # the stage after the last that worked (a time-out in login is an auth failure)
            stage = next((s for s in ("connect", "auth") if f"source: {s}" not in done), "folder")
            steps.append((f"source: {stage}", False, bounded(f"{where}: {_reason(exc)}")))
        finally:
            if client is not None:
                await _logout(client)
        return steps


def _note(steps: list[Step] | None, stage: str, detail: str) -> None:
    if steps is not None:
        steps.append((f"source: {stage}", True, detail))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _starttls(client: Any, context: ssl.SSLContext, host: str) -> None:
    """Upgrade the connection (RFC 3501 6.2.1), or fail: never go on in plaintext."""
    import aioimaplib

    protocol = client.protocol
    if protocol.state == "AUTH":  # PREAUTH in plaintext: no STARTTLS can follow (RFC 3501)
        raise AuthError(f"{host} pre-authenticated a plaintext connection: refused", "TLS")
    if "STARTTLS" not in protocol.capabilities:
        raise AuthError(f"{host} does not offer STARTTLS: refusing to log in in plaintext", "TLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    protocol.starttls_tag = command.tag.encode()
    response = await asyncio.wait_for(protocol.execute(command), TIMEOUT)
    if response.result != "OK":
        raise AuthError(f"STARTTLS refused: {bounded(_text(response.lines))}", "TLS")
    if protocol.injected:  # answers sent in plaintext after OK would pass as the server's
        raise AuthError(f"{host} sent data after STARTTLS before the handshake", "TLS")
    loop = asyncio.get_running_loop()
    try:
        transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, context, server_hostname=host), TIMEOUT
        )
    except ssl.SSLError as exc:
        raise AuthError(f"{host}: {describe_tls_error(exc)}", "TLS") from None
    except (TimeoutError, OSError) as exc:
        raise AuthError(f"{host}: TLS handshake failed: {_reason(exc)}", "TLS") from None
    protocol.transport = transport
    protocol.starttls_tag = b""
    await asyncio.wait_for(protocol.capability(), TIMEOUT)  # forget what was said in plaintext


async def _authenticate(client: Any, spec: SourceSpec, token: str) -> tuple[Any, str]:
    """SASL XOAUTH2 or OAUTHBEARER by AUTHENTICATE (with SASL-IR where offered). A refused
    token gets the error challenge, answered with the dummy response; returns the response
    and the challenge's status (empty when there was none)."""
    import aioimaplib

    protocol = client.protocol
    mechanism = spec.auth.kind.upper()
    encoded = base64.b64encode(initial_response(spec.auth, spec.user, token, spec.host, spec.port))
    inline = "SASL-IR" in protocol.capabilities
    command = aioimaplib.Command(
        "AUTHENTICATE",
        protocol.new_tag(),
        mechanism,
        *((encoded.decode(),) if inline else ()),
        loop=protocol.loop,
    )
    protocol.sasl = _Sasl(b"" if inline else encoded, DUMMY_RESPONSE[spec.auth.kind])
    try:
        response = await asyncio.wait_for(
            protocol.execute(command, scrub=encoded.decode()), TIMEOUT
        )
    finally:
        sasl, protocol.sasl = protocol.sasl, None
    if response.result == "OK":
        protocol.state = "AUTH"
        return response, ""
    return response, challenge_status(sasl.challenge) if sasl.challenge else ""


class _Sasl:
    """One AUTHENTICATE exchange: what to send at the first ``+`` (no SASL-IR), and the
    error challenge the server sent, answered once with the dummy response."""

    def __init__(self, pending: bytes, dummy: bytes) -> None:
        self.pending = pending
        self.dummy = dummy
        self.challenge = b""
        self.answered = False

    def answer(self, line: bytes) -> bytes:
        if self.pending:
            pending, self.pending = self.pending, b""
            return pending
        if self.answered:
            return b"*"  # a second challenge: cancel (RFC 3501 6.2.2)
        self.challenge = line[1:].strip()[:4096]
        self.answered = True
        return base64.b64encode(self.dummy)


@functools.cache
def _client_class() -> Any:
    """aioimaplib's client, noting every ``EXISTS`` the server sends.

    aioimaplib drops an ``EXISTS`` that arrives inside the answer to another command (a
    SEARCH, say); a listener that then enters IDLE would wait for mail already there.
    """
    import aioimaplib

    class Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # aioimaplib: untyped
        exists_seen = False
        sasl: _Sasl | None = None  # an AUTHENTICATE under way
        starttls_tag = b""  # a STARTTLS under way: nothing may follow its OK in plaintext
        injected = False

        def _untagged_response(self, line: bytes) -> Any:
            if line.rstrip().upper().endswith(b"EXISTS"):
                self.exists_seen = True
            return super()._untagged_response(line)

        def _handle_line(self, line: bytes, current_cmd: Any) -> Any:
            if self.starttls_tag and self.starttls_tag == b"done":
                self.injected = True
                return None
            done = bool(self.starttls_tag) and line.startswith(self.starttls_tag + b" ")
            result = super()._handle_line(line, current_cmd)
            if done:
                self.starttls_tag = b"done"
            return result

        def _continuation(self, line: bytes) -> None:
            command = self.pending_sync_command
            if self.sasl is not None and command is not None and command.name == "AUTHENTICATE":
                self.transport.write(self.sasl.answer(line) + b"\r\n")
                return
            super()._continuation(line)

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
