"""Unframed UDP datagrams (discovery) and TCP port probes.

A plug's own link (XOR/TCP, KLAP, AES) is a transport in ``kshell.device.transports``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kshell.device import codec as protocol
from kshell.device.transports.xor import DEFAULT_PORT, DEFAULT_TIMEOUT, port_open
from kshell.errors import ProtocolError

__all__ = ["DEFAULT_PORT", "DEFAULT_TIMEOUT", "Connection", "Datagram", "tcp_probe", "udp_query"]


class Connection:
    """One old-generation plug asked for whole answers (discovery's unicast and sweep reads):
    the IOT protocol over the XOR transport, nothing kept beyond ``close``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT):
        from kshell.device.protocols.iot import IotProtocol
        from kshell.device.transports.xor import XorTransport

        self._proto = IotProtocol(XorTransport(host, port, timeout))

    @property
    def label(self) -> str:
        return self._proto.label

    async def query(self, request: dict[str, Any], *, idempotent: bool = False) -> dict[str, Any]:
        return await self._proto.raw(request, idempotent=idempotent)

    def close(self) -> None:
        self._proto.close()


async def tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Does ``host:port`` accept a TCP connection within ``timeout``?"""
    return await port_open(host, port, timeout)


@dataclass
class Datagram:
    """One UDP answer: where it came from and what it said (or why it was unreadable)."""

    host: str
    port: int
    answer: dict[str, Any] | None
    error: ProtocolError | None = None


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, limit: int, on_answer: Callable[[Datagram], None] | None = None) -> None:
        self.answers: dict[str, Datagram] = {}
        self.limit = limit
        self.on_answer = on_answer  # told of each new answer as it arrives

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        host, port = addr[0], addr[1]
        if host in self.answers or len(self.answers) >= self.limit:
            return
        try:
            answer = Datagram(host, port, protocol.decode_datagram(data))
        except ProtocolError as exc:
            answer = Datagram(host, port, None, exc)
        self.answers[host] = answer
        if self.on_answer is not None:
            self.on_answer(answer)

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
    collector = _Collector(limit, on_answer)
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
