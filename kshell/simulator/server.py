"""``Simulator``: many simulated plugs served from one asyncio event loop.

Per plug: a TCP listener on (its 127.x address, its port) speaking the framed, ciphered
protocol on kept-open connections, and a UDP socket bound to (its address, UDP port) that
answers unicast requests and sends every UDP reply, so replies come from the plug's own
address and port as on a real network.

Broadcast on loopback (verified on Linux): a datagram sent to 127.255.255.255:P (with
SO_BROADCAST on the sender) is delivered to every socket bound to 127.255.255.255:P, and to
no socket bound to a unicast 127.x address. So each simulator binds one socket per UDP port to
127.255.255.255:P with SO_REUSEADDR (several simulators in one process then each get their own
copy of the broadcast) and fans each broadcast out to its plugs, which answer from their own
unicast sockets. Unicast sockets do not set SO_REUSEADDR, so two plugs can never silently
share an address.

Everything here runs on the loop; use ``SimulatorThread`` from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from typing import Any, Self

from kshell.errors import ProtocolError
from kshell.protocol import (
    decode_datagram,
    encode_datagram,
)
from kshell.simulator import tdp
from kshell.simulator.accounts import DEMO_ACCOUNT, Account
from kshell.simulator.faults import FAULTS
from kshell.simulator.firmware import FirmwareConfig
from kshell.simulator.http import HttpConn
from kshell.simulator.plug import PlugSpec, SimPlug
from kshell.simulator.web import PlugWeb, make_web
from kshell.simulator.xor import XorConn

BROADCAST = "127.255.255.255"
_log = logging.getLogger(__name__)


def _check_loopback(host: str) -> None:
    addr = ipaddress.IPv4Address(host)
    if not addr.is_loopback or host == BROADCAST:
        raise ValueError(f"simulated plugs live on 127.0.0.0/8 only, not {host}")


class _Node:
    """The network side of one plug: listeners, connections, UDP socket."""

    def __init__(self, plug: SimPlug, account: Account) -> None:
        self.plug = plug
        self.server: asyncio.Server | None = None
        self.klap: asyncio.Server | None = None
        self.http: asyncio.Server | None = None  # the current generation's port 80
        self.web: PlugWeb | None = make_web(plug, account) if plug.is_http else None
        self.udp: asyncio.DatagramTransport | None = None
        self.conns: set[XorConn] = set()
        self.http_conns: set[HttpConn] = set()
        self.lock = asyncio.Lock()  # one re-plan of the listeners at a time


class _PlugDatagram(asyncio.DatagramProtocol):
    def __init__(self, sim: Simulator, node: _Node) -> None:
        self.sim = sim
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sim._on_datagram(self.node, data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP from a vanished client
        pass


class _BroadcastDatagram(asyncio.DatagramProtocol):
    def __init__(self, sim: Simulator, port: int) -> None:
        self.sim = sim
        self.port = port

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for node in self.sim._nodes:
            if node.plug.discovery_port == self.port:
                self.sim._on_datagram(node, data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


class _KlapHttp(asyncio.Protocol):
    """Just enough HTTP to make port 80 look alive, like KLAP firmware."""

    def __init__(self) -> None:
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf or len(self.buf) > 8192:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            self.transport.close()


class Simulator:
    """Serve ``SimPlug``s on loopback from the running event loop."""

    def __init__(
        self,
        specs: Iterable[PlugSpec | SimPlug],
        *,
        firmware: FirmwareConfig | None = None,
        account: Account = DEMO_ACCOUNT,
    ) -> None:
        self.firmware = firmware or FirmwareConfig()
        self.account = account  # what KLAP/AES plugs were set up with (unless their own)
        plugs = [s if isinstance(s, SimPlug) else SimPlug(s, firmware=self.firmware) for s in specs]
        seen: set[tuple[str, int]] = set()
        for plug in plugs:
            _check_loopback(plug.host)
            if plug.port and (plug.host, plug.port) in seen:
                raise ValueError(f"two simulated plugs on {plug.host}:{plug.port}")
            seen.add((plug.host, plug.port))
        self._nodes = [_Node(p, account) for p in plugs]
        self._broadcast: dict[int, asyncio.DatagramTransport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def plugs(self) -> list[SimPlug]:
        return [n.plug for n in self._nodes]

    def plug(self, host: str | SimPlug) -> SimPlug:
        """A plug by ``host``, ``host:port`` or alias."""
        return self._node(host).plug

    def _node(self, key: str | SimPlug) -> _Node:
        for node in self._nodes:
            p = node.plug
            if key is p or key in (p.host, f"{p.host}:{p.port}", p.alias):
                return node
        raise KeyError(f"no simulated plug {key!r}")

    # -- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Bind every listener; returns once all of them accept."""
        if self._started:
            return
        self._started = True
        try:
            await self._bind_udp()
            for node in self._nodes:
                node.plug.on_network_change = self._network_changed(node)
                await self._sync(node)
        except BaseException:
            await self.stop()
            raise

    async def _bind_udp(self) -> None:
        loop = asyncio.get_running_loop()
        # (port, generation): port 0 of the old and of the new generation are two free ports
        wanted = sorted(
            {(p.discovery_port, p.is_http) for p in self.plugs if p.discovery_port is not None}
        )
        for port, is_http in wanted:
            if port in self._broadcast:
                continue  # both generations on one fixed port: one socket serves both
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((BROADCAST, port))
            except OSError:
                sock.close()
                raise
            bound = sock.getsockname()[1]
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_BroadcastDatagram, self, bound), sock=sock
            )
            self._broadcast[bound] = transport
            for node in self._nodes:
                p = node.plug
                if p.discovery_port == port and p.is_http == is_http:
                    if is_http:
                        p.tdp_port = bound  # port 0: the one the kernel chose
                    else:
                        p.udp_port = bound
        for node in self._nodes:
            plug = node.plug
            own = plug.discovery_port
            if own is None:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((plug.host, own))
            except OSError as exc:
                sock.close()
                raise OSError(
                    exc.errno, f"cannot bind UDP {plug.host}:{own}: {exc.strerror}"
                ) from None
            node.udp, _ = await loop.create_datagram_endpoint(
                functools.partial(_PlugDatagram, self, node), sock=sock
            )

    async def stop(self) -> None:
        """Close everything; when this returns, every port is free again."""
        for task in list(self._tasks):
            task.cancel()
        for node in self._nodes:
            node.plug.shutdown()
            node.plug.on_network_change = None
            await self._close_tcp(node)
            await self._close_klap(node)
            await self._close_http(node)
            if node.udp is not None:
                node.udp.close()
                node.udp = None
        for transport in self._broadcast.values():
            transport.close()
        self._broadcast.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- faults and events (call on the loop) ----------------------------------------------
    async def set_fault(self, host: str | SimPlug, name: str, value: Any = True) -> None:
        node = self._node(host)
        node.plug.faults.set(name, value)
        node.plug.faults_changed()
        await self._sync(node)

    def web(self, host: str | SimPlug) -> PlugWeb:
        """The HTTP side (sessions, account) of a KLAP/AES plug."""
        web = self._node(host).web
        if web is None:
            raise KeyError(f"{host} is a plug of the old generation (no HTTP)")
        return web

    async def clear_faults(self, host: str | SimPlug, name: str | None = None) -> None:
        node = self._node(host)
        node.plug.faults.clear(name)
        node.plug.faults_changed()
        await self._sync(node)

    async def power_cut(self, host: str | SimPlug, duration: float = 0.0) -> None:
        node = self._node(host)
        node.plug.power_cut(duration)
        await self._sync(node)

    # -- listeners follow the plug's state --------------------------------------------------
    def _network_changed(self, node: _Node) -> Any:
        def changed() -> None:
            task = asyncio.get_running_loop().create_task(self._sync(node))
            self._tasks.add(task)
            task.add_done_callback(self._sync_done)

        return changed

    def _sync_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("simulator: %s", task.exception())

    async def _sync(self, node: _Node) -> None:
        """Open or close the plug's TCP listener (and KLAP decoy) to match its state."""
        async with node.lock:
            await self._sync_locked(node)

    async def _sync_locked(self, node: _Node) -> None:
        plug = node.plug
        if plug.answers_tcp and node.server is None:
            loop = asyncio.get_running_loop()
            try:
                node.server = await loop.create_server(
                    lambda: XorConn(node.plug, node.conns),
                    plug.host,
                    plug.port,
                    reuse_address=True,
                    backlog=128,
                )
            except OSError as exc:
                raise OSError(
                    exc.errno or errno.EADDRINUSE,
                    f"cannot listen on {plug.host}:{plug.port}: {exc.strerror or exc}",
                ) from None
            plug.port = node.server.sockets[0].getsockname()[1]  # port 0 resolved
        elif not plug.answers_tcp:
            await self._close_tcp(node)
        klap_port = plug.faults.get("klap")
        if klap_port and node.klap is None and not plug.down and "offline" not in plug.faults:
            node.klap = await asyncio.get_running_loop().create_server(
                _KlapHttp, plug.host, klap_port, reuse_address=True
            )
        elif (not klap_port or plug.down or "offline" in plug.faults) and node.klap:
            await self._close_klap(node)
        if plug.answers_http and node.http is None and node.web is not None:
            web, faults, conns = node.web, plug.faults, node.http_conns
            try:
                node.http = await asyncio.get_running_loop().create_server(
                    lambda: HttpConn(web.handle, faults, conns),
                    plug.host,
                    plug.http_port,
                    reuse_address=True,
                    backlog=128,
                )
            except OSError as exc:
                raise OSError(
                    exc.errno or errno.EADDRINUSE,
                    f"cannot listen on {plug.host}:{plug.http_port}: {exc.strerror or exc}",
                ) from None
            plug.http_port = node.http.sockets[0].getsockname()[1]  # port 0 resolved
        elif not plug.answers_http:
            await self._close_http(node)

    async def _close_tcp(self, node: _Node) -> None:
        if node.server is not None:
            node.server.close()
            node.server = None
        for conn in list(node.conns):
            conn.abort()  # a rebooting plug drops its connections
        node.conns.clear()

    async def _close_http(self, node: _Node) -> None:
        if node.http is not None:
            node.http.close()
            node.http = None
            if node.web is not None:
                node.web.expire_all()  # a rebooted plug has forgotten its sessions
        for conn in list(node.http_conns):
            conn.abort()
        node.http_conns.clear()

    async def _close_klap(self, node: _Node) -> None:
        if node.klap is not None:
            node.klap.close()
            node.klap = None

    # -- UDP -----------------------------------------------------------------------------------
    def _on_datagram(self, node: _Node, data: bytes, addr: tuple[str, int]) -> None:
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
            asyncio.get_running_loop().call_later(delay, self._reply, node, request, addr)
        else:
            self._reply(node, request, addr)

    def _reply(self, node: _Node, request: dict[str, Any], addr: tuple[str, int]) -> None:
        plug = node.plug
        if node.udp is None or not plug.answers_udp:
            return
        if "garbage" in plug.faults:
            datagram = os.urandom(64)
        elif plug.is_http:
            datagram = tdp.answer(
                tdp.discovery_result(plug, node.web.account if node.web else None)
            )
        else:
            datagram = encode_datagram(plug.handle(request))
        with contextlib.suppress(OSError):
            node.udp.sendto(datagram, addr)


__all__ = ["BROADCAST", "FAULTS", "Simulator"]
