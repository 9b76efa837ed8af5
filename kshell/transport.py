"""Bytes on sockets: framed TCP request/response and unframed UDP datagrams.

One ``Connection`` per plug, kept open between requests and guarded by a lock, because
real plugs stall when more than one request is in flight. Every request has one total
deadline (connect, send, read and any reconnect together).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kshell import protocol
from kshell.errors import DeviceTimeout, ProtocolError, TransportError, UnsupportedDevice

DEFAULT_PORT = 9999
DEFAULT_TIMEOUT = 5.0
KLAP_PORT = 80  # newer firmware closes 9999 and speaks KLAP over HTTP here


class _Framed(asyncio.Protocol):
    """Collects one framed answer at a time into ``waiter`` (no stream layers: a watch over
    a hundred plugs makes tens of thousands of requests a second)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            if len(self.buffer) > protocol.MAX_FRAME:  # talking out of turn, and a lot
                self.transport.close()  # type: ignore[union-attr]
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


class Connection:
    """A kept-open TCP connection to one plug; at most one request in flight."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._proto: _Framed | None = None
        self._lock = asyncio.Lock()

    @property
    def label(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    async def query(
        self,
        request: dict[str, Any] | bytes,
        *,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """Send one request (a dict, or a message already framed by ``protocol.encode``),
        return the decoded answer.

        One deadline covers connecting, sending, reading and any reconnect. ``idempotent``
        requests (reads) may be sent again on a fresh connection when a reused one was closed
        by the plug without answering; a state change never is.
        """
        limit = self.timeout if timeout is None else timeout
        async with self._lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + limit
            try:
                message = request if isinstance(request, bytes) else protocol.encode(request)
                body = await self._exchange(message, idempotent, deadline)
            except TimeoutError:
                self.close()  # a late answer would be taken for the next request's
                raise DeviceTimeout(f"no answer within {limit:g} s", target=self.label) from None
            except (ProtocolError, TransportError) as exc:
                self.close()
                exc.target = exc.target or self.label
                raise
            except asyncio.CancelledError:
                self.close()  # a half-read answer would poison the next request
                raise
            try:
                return protocol.parse_payload(protocol.decrypt(body))
            except ProtocolError as exc:
                exc.target = self.label
                raise

    async def _exchange(self, message: bytes, idempotent: bool, deadline: float) -> bytes:
        proto = self._proto
        if proto is not None and (proto.closed or proto.transport.is_closing()):  # type: ignore[union-attr]
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
            if self.port == DEFAULT_PORT and await _port_open(self.host, KLAP_PORT):
                raise UnsupportedDevice(
                    "port 9999 refused, port 80 answers: newer encrypted protocol (KLAP), "
                    "not supported",
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
            proto.transport.write(message)  # type: ignore[union-attr]
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


class _ClosedBeforeAnswer(Exception):
    """The plug closed the connection before a single byte of answer."""


async def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Does ``host:port`` accept a TCP connection within ``timeout``?"""
    return await _port_open(host, port, timeout)


@dataclass
class Datagram:
    """One UDP answer: where it came from and what it said (or why it was unreadable)."""

    host: str
    port: int
    answer: dict[str, Any] | None
    error: ProtocolError | None = None


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, limit: int) -> None:
        self.answers: dict[str, Datagram] = {}
        self.limit = limit

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        host, port = addr[0], addr[1]
        if host in self.answers or len(self.answers) >= self.limit:
            return
        try:
            self.answers[host] = Datagram(host, port, protocol.decode_datagram(data))
        except ProtocolError as exc:
            self.answers[host] = Datagram(host, port, None, exc)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to collect
        pass


async def udp_query(
    addresses: Iterable[str],
    request: dict[str, Any],
    *,
    port: int = DEFAULT_PORT,
    timeout: float = 3.0,
    repeats: int = 2,
    limit: int = 4096,
    on_answer: Any = None,
) -> tuple[list[Datagram], list[tuple[str, str]]]:
    """Send ``request`` to each address (broadcast or unicast); collect answers until ``timeout``.

    Returns (answers, send errors as (address, reason)). ``on_answer(datagram)`` is called as
    each new answer arrives, so callers can start follow-up work before the window closes.
    """
    loop = asyncio.get_running_loop()
    collector = _Collector(limit)
    if on_answer is not None:
        original = collector.datagram_received

        def relay(data: bytes, addr: tuple[str, int]) -> None:
            before = len(collector.answers)
            original(data, addr)
            if len(collector.answers) > before:
                on_answer(collector.answers[addr[0]])

        collector.datagram_received = relay  # type: ignore[method-assign]
    transport, _ = await loop.create_datagram_endpoint(
        lambda: collector, family=socket.AF_INET, allow_broadcast=True
    )
    payload = protocol.encode_datagram(request)
    failed: dict[str, str] = {}
    try:
        for attempt in range(repeats):
            for address in addresses:
                try:
                    transport.sendto(payload, (address, port))
                except OSError as exc:
                    failed[address] = exc.strerror or str(exc)
            if attempt + 1 < repeats:
                await asyncio.sleep(min(0.2, timeout / (repeats + 1)))
        await asyncio.sleep(max(0.0, timeout - min(0.2, timeout / (repeats + 1)) * (repeats - 1)))
    finally:
        transport.close()
    return list(collector.answers.values()), sorted(failed.items())
