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


class Connection:
    """A kept-open TCP connection to one plug; at most one request in flight."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def label(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    async def query(
        self, request: dict[str, Any], *, timeout: float | None = None, idempotent: bool = False
    ) -> dict[str, Any]:
        """Send one request, return the decoded answer.

        ``idempotent`` requests (reads) may be sent again on a fresh connection when a
        reused one was closed by the plug without answering; a state change never is.
        """
        limit = self.timeout if timeout is None else timeout
        async with self._lock:
            try:
                async with asyncio.timeout(limit):
                    return await self._exchange(protocol.encode(request), idempotent)
            except TimeoutError:
                self.close()
                raise DeviceTimeout(f"no answer within {limit:g} s", target=self.label) from None
            except (ProtocolError, TransportError) as exc:
                self.close()
                exc.target = exc.target or self.label
                raise
            except asyncio.CancelledError:
                self.close()  # a half-read answer would poison the next request
                raise

    async def _exchange(self, message: bytes, idempotent: bool) -> dict[str, Any]:
        if self._writer is not None and (self._writer.is_closing() or self._reader.at_eof()):  # type: ignore[union-attr]
            self.close()  # found stale before sending: reconnecting cannot send twice
        reused = self._writer is not None
        if not reused:
            await self._connect()
        try:
            return await self._send_and_read(message)
        except _ClosedBeforeAnswer:
            self.close()
            if not (reused and idempotent):
                raise TransportError("connection closed without an answer") from None
        await self._connect()
        try:
            return await self._send_and_read(message)
        except _ClosedBeforeAnswer:
            raise TransportError("connection closed without an answer") from None

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        except ConnectionRefusedError:
            if self.port == DEFAULT_PORT and await _port_open(self.host, KLAP_PORT):
                raise UnsupportedDevice(
                    "port 9999 refused, port 80 answers: newer encrypted protocol (KLAP), "
                    "not supported",
                    target=self.label,
                ) from None
            raise TransportError("connection refused", target=self.label) from None
        except socket.gaierror as exc:
            raise TransportError(f"cannot resolve host ({exc.strerror})", target=self.label) from None
        except OSError as exc:
            raise TransportError(exc.strerror or str(exc), target=self.label) from None

    async def _send_and_read(self, message: bytes) -> dict[str, Any]:
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(message)
            await self._writer.drain()
            header = await self._reader.readexactly(protocol.HEADER_SIZE)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _ClosedBeforeAnswer from None
            raise ProtocolError("truncated frame header") from None
        except (ConnectionResetError, BrokenPipeError):
            raise _ClosedBeforeAnswer from None
        except OSError as exc:
            raise TransportError(exc.strerror or str(exc)) from None
        length = protocol.frame_length(header)
        try:
            body = await self._reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise ProtocolError(
                f"truncated frame: {len(exc.partial)} of {length} bytes before the plug closed"
            ) from None
        except OSError as exc:
            raise TransportError(exc.strerror or str(exc)) from None
        return protocol.parse_payload(protocol.decrypt(body))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


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
