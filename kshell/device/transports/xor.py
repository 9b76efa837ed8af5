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
from typing import cast

from kshell import protocol
from kshell.device.transports.base import Transport
from kshell.errors import DeviceTimeout, ProtocolError, TransportError, UnsupportedDevice

DEFAULT_PORT = 9999
DEFAULT_TIMEOUT = 5.0
HTTP_PORT = 80  # newer firmware closes 9999 and speaks KLAP or AES over HTTP here


@functools.lru_cache(maxsize=1024)
def frame(plain: bytes) -> bytes:
    """Plain JSON -> a framed, ciphered message; cached, as a watch sends the same one all day."""
    payload = protocol.encrypt(plain)
    return protocol.HEADER.pack(len(payload)) + payload


class _Framed(asyncio.Protocol):
    """Collects one framed answer at a time into ``waiter`` (no stream layers: a watch over
    a hundred plugs makes tens of thousands of requests a second)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            if len(self.buffer) > protocol.MAX_FRAME and self.transport is not None:
                self.transport.close()  # talking out of turn, and a lot
            return
        if len(self.buffer) < protocol.HEADER_SIZE:
            return
        try:
            length = protocol.frame_length(bytes(self.buffer[: protocol.HEADER_SIZE]))
        except ProtocolError as exc:
            waiter.set_exception(exc)
            return
        end = protocol.HEADER_SIZE + length
        if len(self.buffer) >= end:
            body = bytes(self.buffer[protocol.HEADER_SIZE : end])
            del self.buffer[:end]
            waiter.set_result(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
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
        self._lock = asyncio.Lock()

    @property
    def default_port(self) -> int:
        return DEFAULT_PORT

    async def send(self, request: bytes, *, idempotent: bool) -> bytes:
        async with self._lock:
            deadline = asyncio.get_running_loop().time() + self.timeout
            try:
                body = await self._exchange(frame(request), idempotent, deadline)
            except TimeoutError:
                self.close()  # a late answer would be taken for the next request's
                raise DeviceTimeout(
                    f"no answer within {self.timeout:g} s", target=self.label
                ) from None
            except (ProtocolError, TransportError) as exc:
                self.close()
                exc.target = exc.target or self.label
                raise
            except asyncio.CancelledError:
                self.close()  # a half-read answer would poison the next request
                raise
            return protocol.decrypt(body)

    async def _exchange(self, message: bytes, idempotent: bool, deadline: float) -> bytes:
        proto = self._proto
        if proto is not None and not proto.is_usable():
            self.close()  # found stale before sending: reconnecting cannot send twice
            proto = None
        reused = proto is not None
        if proto is None:
            proto = await self._connect(deadline)
        try:
            return await self._send_and_read(proto, message, deadline)
        except _ClosedBeforeAnswer:
            self.close()
            if not (reused and idempotent):
                raise TransportError("connection closed without an answer") from None
        proto = await self._connect(deadline)
        try:
            return await self._send_and_read(proto, message, deadline)
        except _ClosedBeforeAnswer:
            raise TransportError("connection closed without an answer") from None

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

    @staticmethod
    async def _send_and_read(proto: _Framed, message: bytes, deadline: float) -> bytes:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bytes] = loop.create_future()
        proto.waiter = waiter
        proto.buffer.clear()
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            assert proto.transport is not None
            proto.transport.write(message)
            return await waiter
        finally:
            timer.cancel()
            proto.waiter = None

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None


def _expire(waiter: asyncio.Future[bytes]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class CurrentGeneration(UnsupportedDevice):
    """9999 is closed and port 80 open: nothing was sent; the plug may speak KLAP or AES."""


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
