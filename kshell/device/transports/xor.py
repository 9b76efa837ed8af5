"""XOR over TCP 9999: the first generation's transport (framed, XOR-autokey ciphered).

One kept-open TCP connection per plug, guarded by a lock, because real plugs stall when
more than one request is in flight. Every request has one total deadline (connect, send,
read and any reconnect together). A state change is never sent twice: only a reused
connection found closed before a byte of answer is tried again, and only for a read.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections import deque
from collections.abc import Callable
from typing import cast

from kshell.device import codec as protocol
from kshell.device.transports.base import Transport
from kshell.errors import (
    DeviceTimeout,
    KshellError,
    ProtocolError,
    TransportError,
    UnsupportedDevice,
)

DEFAULT_PORT = 9999
DEFAULT_TIMEOUT = 5.0
_TIMER_SLACK = 0.002  # seconds: a loop's timer may fire this much before its time
HTTP_PORT = 80  # newer firmware closes 9999 and speaks KLAP or AES over HTTP here
READ_SIZE = 16 * 1024  # bytes read at once into a connection's own buffer (an answer: ~0.2-3 KiB)


@functools.lru_cache(maxsize=1024)
def frame(plain: bytes) -> bytes:
    """Plain JSON -> a framed, ciphered message; cached, as a watch sends the same one all day."""
    payload = protocol.encrypt(plain)
    return protocol.HEADER.pack(len(payload)) + payload


class _Framed(asyncio.BufferedProtocol):
    """Collects one framed answer at a time into ``waiter`` (no stream layers: a watch over
    a hundred plugs makes tens of thousands of requests a second).

    Read into a buffer of its own (``get_buffer``): the standard loop otherwise allocates
    256 KiB for every read, which the C library maps and unmaps each time (three system
    calls per answer, more than the read itself)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()  # kept: each lookup costs a getpid() call
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.deadline = 0.0  # the waiter's
        self.timer: asyncio.TimerHandle | None = None  # the watchdog (see ``_watch``)
        self.closed = False
        # a repeated read (``repeat``): each answer goes to ``on_answer``, which says whether
        # to send ``message`` again; the waiter then settles only when the repetition ends
        self.on_answer: Callable[[bytes], bool] | None = None
        self.message = b""
        self.timeout = 0.0
        self.turns: deque[asyncio.Future[None]] | None = None  # others waiting: end early
        self.inbox = memoryview(bytearray(READ_SIZE))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.inbox

    def buffer_updated(self, nbytes: int) -> None:
        self._received(self.inbox[:nbytes])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def ask(self, message: bytes, deadline: float) -> asyncio.Future[bytes]:
        """Send one framed request; the future gets the answer's body, or fails (a
        TimeoutError at ``deadline``). Not a coroutine: a read costs no frame of its own."""
        waiter: asyncio.Future[bytes] = self.loop.create_future()
        self.waiter = waiter
        self._send(message, deadline)
        return waiter

    def _send(self, message: bytes, deadline: float) -> None:
        """The request out, its answer awaited from scratch until ``deadline``."""
        self.deadline = deadline
        self.buffer.clear()
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._watch)
        assert self.transport is not None
        self.transport.write(message)

    def repeat(
        self,
        message: bytes,
        timeout: float,
        on_answer: Callable[[bytes], bool],
        turns: deque[asyncio.Future[None]],
    ) -> asyncio.Future[bytes]:
        """``ask``, then again for as long as ``on_answer`` says so (and nobody else waits
        for the connection), each request with a deadline ``timeout`` from its sending; no
        coroutine is resumed per answer. The future settles when the repetition ends."""
        self.on_answer, self.message, self.timeout, self.turns = on_answer, message, timeout, turns
        return self.ask(message, self.loop.time() + timeout)

    def _again(self, waiter: asyncio.Future[bytes], body: bytes) -> None:
        """A repeated read's answer: handed on, then the next request, or the end."""
        assert self.on_answer is not None
        try:
            again = self.on_answer(protocol.decrypt(body))
        except Exception as exc:  # noqa: BLE001 - the reader's error, raised by ``repeat``
            waiter.set_exception(_ReaderError(exc))
            return
        if not again or self.turns:
            waiter.set_result(b"")
            return
        self._send(self.message, self.loop.time() + self.timeout)

    def _watch(self) -> None:
        """One deadline watchdog per connection rather than a timer per request: it fails the
        request in flight once its deadline is reached, else sleeps on until that deadline.
        An answer takes milliseconds and the deadline is seconds away, so it wakes about once
        per deadline whatever the number of requests; it is always due at or before the
        deadline of the request in flight (later requests have later deadlines)."""
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # nothing in flight: the next request sets it again
        if self.loop.time() >= self.deadline - _TIMER_SLACK:
            waiter.set_exception(TimeoutError())
        else:
            self.timer = self.loop.call_at(self.deadline, self._watch)

    def _received(self, data: memoryview) -> None:
        """What a read put in ``inbox`` (a view of it, reused by the next read)."""
        waiter = self.waiter
        if not self.buffer and waiter is not None and not waiter.done() and len(data) > 4:
            # the everyday answer: one whole frame in one chunk, copied out of inbox once
            length = int.from_bytes(data[: protocol.HEADER_SIZE], "big")
            if length <= protocol.MAX_FRAME and len(data) == protocol.HEADER_SIZE + length:
                self._deliver(waiter, data[protocol.HEADER_SIZE :].tobytes())
                return
        buffer = self.buffer
        buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            if len(buffer) > protocol.MAX_FRAME and self.transport is not None:
                self.transport.close()  # talking out of turn, and a lot
            return
        if len(buffer) < protocol.HEADER_SIZE:
            return
        try:
            length = protocol.frame_length(bytes(buffer[: protocol.HEADER_SIZE]))
        except ProtocolError as exc:
            waiter.set_exception(exc)
            return
        end = protocol.HEADER_SIZE + length
        if len(buffer) >= end:
            body = bytes(buffer[protocol.HEADER_SIZE : end])
            del buffer[:end]
            self._deliver(waiter, body)

    def _deliver(self, waiter: asyncio.Future[bytes], body: bytes) -> None:
        if self.on_answer is None:
            waiter.set_result(body)
        else:
            self._again(waiter, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        got = len(self.buffer)
        if not got:
            waiter.set_exception(_ClosedBeforeAnswer())
        elif got < protocol.HEADER_SIZE:
            waiter.set_exception(ProtocolError("truncated frame header"))
        else:
            length = int.from_bytes(self.buffer[: protocol.HEADER_SIZE], "big")
            waiter.set_exception(
                ProtocolError(
                    f"truncated frame: {got - protocol.HEADER_SIZE} of {length} bytes "
                    "before the plug closed"
                )
            )

    def is_usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()


class XorTransport(Transport):
    """A kept-open TCP connection to one plug; at most one request in flight."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._proto: _Framed | None = None
        self._busy = False  # a request is in flight: the next one waits its turn
        self._turns: deque[asyncio.Future[None]] = deque()  # waiting, first come first served

    @property
    def default_port(self) -> int:
        return DEFAULT_PORT

    async def send(self, request: bytes, *, idempotent: bool) -> bytes:
        if self._busy:
            await self._wait_turn()
        else:
            self._busy = True
        try:
            proto = self._proto
            loop = proto.loop if proto is not None else asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            try:
                if proto is not None and proto.is_usable():  # a kept connection: the fast path
                    try:
                        body = await proto.ask(frame(request), deadline)
                    except _ClosedBeforeAnswer:  # closed before a byte of answer
                        self.close()
                        if not idempotent:
                            raise TransportError("connection closed without an answer") from None
                        body = await self._fresh(frame(request), deadline)
                    finally:
                        proto.waiter = None
                else:
                    self.close()  # found stale before sending: reconnecting cannot send twice
                    body = await self._fresh(frame(request), deadline)
            except TimeoutError:
                raise self._timed_out() from None
            except (ProtocolError, TransportError, asyncio.CancelledError) as exc:
                self._failed(exc)
                raise
            return protocol.decrypt(body)
        finally:
            if self._turns:
                self._pass_turn()
            else:
                self._busy = False

    async def repeat(self, request: bytes, on_answer: Callable[[bytes], bool]) -> bool:
        """Over the kept connection only (a new one is made by ``send``): on its errors it is
        closed, as ``send`` closes it; an error ``on_answer`` raised leaves it open. Closed
        before an answer: True all the same (the next ``send`` reconnects and asks again)."""
        proto = self._proto
        if self._busy or proto is None or not proto.is_usable():
            return False
        self._busy = True
        try:
            await proto.repeat(frame(request), self.timeout, on_answer, self._turns)
        except _ReaderError as exc:
            raise exc.error from None
        except _ClosedBeforeAnswer:
            self.close()
        except TimeoutError:
            raise self._timed_out() from None
        except (ProtocolError, TransportError, asyncio.CancelledError) as exc:
            self._failed(exc)
            raise
        finally:
            proto.waiter = proto.on_answer = proto.turns = None
            if self._turns:
                self._pass_turn()
            else:
                self._busy = False
        return True

    def _timed_out(self) -> DeviceTimeout:
        self.close()  # a late answer would be taken for the next request's
        return DeviceTimeout(f"no answer within {self.timeout:g} s", target=self.label)

    def _failed(self, exc: BaseException) -> None:
        """A request failed or was cancelled: the connection goes (a half-read answer would
        poison the next request), and the error names the plug."""
        self.close()
        if isinstance(exc, KshellError):
            exc.target = exc.target or self.label

    async def _wait_turn(self) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed the turn, then cancelled
                self._pass_turn()
            raise

    def _pass_turn(self) -> None:
        """The request is over: the next one waiting goes (still busy), or nobody is."""
        turns = self._turns
        while turns:
            turn = turns.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False

    async def _fresh(self, message: bytes, deadline: float) -> bytes:
        """One request on a new connection (the kept one is gone or was never made)."""
        proto = await self._connect(deadline)
        try:
            return await proto.ask(message, deadline)
        except _ClosedBeforeAnswer:
            raise TransportError("connection closed without an answer") from None
        finally:
            proto.waiter = None

    async def _connect(self, deadline: float) -> _Framed:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, proto = await loop.create_connection(_Framed, self.host, self.port)
        except ConnectionRefusedError:
            if self.port == DEFAULT_PORT and await port_open(self.host, HTTP_PORT):
                raise CurrentGeneration(
                    "port 9999 refused, port 80 answers: a current-generation plug "
                    "(KLAP or AES) that did not announce itself on UDP 20002",
                    target=self.label,
                ) from None
            raise TransportError("connection refused", target=self.label) from None
        except socket.gaierror as exc:
            raise TransportError(
                f"cannot resolve host ({exc.strerror})", target=self.label
            ) from None
        except OSError as exc:
            raise TransportError(exc.strerror or str(exc), target=self.label) from None
        self._proto = proto
        return proto

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None


class CurrentGeneration(UnsupportedDevice):
    """9999 is closed and port 80 open: nothing was sent; the plug may speak KLAP or AES."""


class _ReaderError(Exception):
    """What a repeated read's ``on_answer`` raised, carried out of the transport's callback."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


class _ClosedBeforeAnswer(Exception):
    """The plug closed the connection before a single byte of answer."""


async def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Does ``host:port`` accept a TCP connection within ``timeout``?"""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
