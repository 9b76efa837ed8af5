"""The simulator's UDP side: each plug answers discovery from its own address and port.

The old generation answers any Kasa datagram (the XOR cipher without a length prefix) with
its answer to the request; the current generation answers only the 20002 probe (``tdp``). A
broadcast socket hands what it hears to every plug on its port. A real plug stays silent on
anything it cannot read, and so do these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from kshell.device.codec import decode_datagram, encode_datagram
from kshell.errors import ProtocolError
from kshell.simulator import tdp

if TYPE_CHECKING:
    from kshell.simulator.accounts import Account
    from kshell.simulator.plug import SimPlug


class Web(Protocol):
    @property
    def account(self) -> Account: ...


class Node(Protocol):
    """What answering a datagram needs of a plug's network side (``server.Node`` is one)."""

    @property
    def plug(self) -> SimPlug: ...

    @property
    def udp(self) -> asyncio.DatagramTransport | None: ...

    @property
    def web(self) -> Web | None: ...


class PlugDatagram(asyncio.DatagramProtocol):
    """A plug's own unicast socket (which also sends every reply it makes)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answer_datagram(self.node, data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP from a vanished client
        pass


class BroadcastDatagram(asyncio.DatagramProtocol):
    """The one socket on 127.255.255.255:PORT, fanning a broadcast out to the port's plugs."""

    def __init__(self, nodes: Sequence[Node], port: int) -> None:
        self.nodes = nodes
        self.port = port

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for node in self.nodes:
            if node.plug.discovery_port == self.port:
                answer_datagram(node, data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


def answer_datagram(node: Node, data: bytes, addr: tuple[str, int]) -> None:
    """Answer one datagram as the plug would (after its delay fault), or stay silent."""
    plug = node.plug
    if not plug.answers_udp or node.udp is None:
        return
    if plug.is_http:
        if tdp.parse_probe(data) is None:
            return  # not a probe of the current generation: silence
        request: dict[str, Any] = {}
    else:
        try:
            request = decode_datagram(data)
        except ProtocolError:
            return  # not a Kasa datagram: a real plug stays silent
    delay = plug.faults.get("delay")
    if delay:
        asyncio.get_running_loop().call_later(delay, _reply, node, request, addr)
    else:
        _reply(node, request, addr)


def _reply(node: Node, request: dict[str, Any], addr: tuple[str, int]) -> None:
    plug = node.plug
    if node.udp is None or not plug.answers_udp:
        return
    if "garbage" in plug.faults:
        datagram = os.urandom(64)
    elif plug.is_http:
        datagram = tdp.answer(tdp.discovery_result(plug, node.web.account if node.web else None))
    else:
        datagram = encode_datagram(plug.handle(request))
    with contextlib.suppress(OSError):
        node.udp.sendto(datagram, addr)
