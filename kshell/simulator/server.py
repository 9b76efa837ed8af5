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
import errno
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self

from kshell.simulator import udp
from kshell.simulator.accounts import DEMO_ACCOUNT, Account
from kshell.simulator.faults import FAULTS
from kshell.simulator.firmware import FirmwareConfig
from kshell.simulator.http import DecoyHttp, HttpConn
from kshell.simulator.plug import SimPlug
from kshell.simulator.spec import PlugSpec
from kshell.simulator.xor import XorConn

if TYPE_CHECKING:
    from kshell.simulator.web import PlugWeb

BROADCAST = "127.255.255.255"
_log = logging.getLogger(__name__)


def _check_loopback(host: str) -> None:
    addr = ipaddress.IPv4Address(host)
    if not addr.is_loopback or host == BROADCAST:
        raise ValueError(f"simulated plugs live on 127.0.0.0/8 only, not {host}")


class Node:
    """The network side of one plug: listeners, connections, UDP socket."""

    def __init__(self, plug: SimPlug, account: Account) -> None:
        self.plug = plug
        self.server: asyncio.Server | None = None
        self.klap: asyncio.Server | None = None
        self.http: asyncio.Server | None = None  # the current generation's port 80
        self.web: PlugWeb | None = None
        if plug.is_http:  # KLAP/AES need the cryptography package; old plugs do not
            from kshell.simulator.web import make_web

            self.web = make_web(plug, account)
        self.udp: asyncio.DatagramTransport | None = None
        self.conns: set[XorConn] = set()
        self.http_conns: set[HttpConn] = set()
        self.lock = asyncio.Lock()  # one re-plan of the listeners at a time


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
        self._nodes = [Node(p, account) for p in plugs]
        self._broadcast: dict[int, asyncio.DatagramTransport] = {}
        self._free_port: dict[bool, int] = {}  # is_http -> the port 0 resolved to
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False

    @property
    def plugs(self) -> list[SimPlug]:
        return [n.plug for n in self._nodes]

    def plug(self, host: str | SimPlug) -> SimPlug:
        """A plug by ``host``, ``host:port`` or alias."""
        return self._node(host).plug

    def open_connections(self, host: str) -> int:
        """TCP connections plug ``host`` holds open now (XOR and HTTP)."""
        node = self._node(host)
        return len(node.conns) + len(node.http_conns)

    def _node(self, key: str | SimPlug) -> Node:
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
        for node in self._nodes:
            await self._bind_discovery(node)

    async def _bind_discovery(self, node: Node) -> None:
        """Bind the plug's unicast discovery socket (and the broadcast one for its port).

        Port 0 of the old and of the new generation are two free ports, each shared by every
        plug of that generation asking for 0; the same fixed port is one socket for both.
        """
        plug = node.plug
        wanted = plug.discovery_port
        if wanted is None:
            return
        port = wanted or self._free_port.get(plug.is_http, 0)
        if port == 0 or port not in self._broadcast:
            port = await self._listen_broadcast(port)
            if wanted == 0:
                self._free_port[plug.is_http] = port
        if plug.is_http:
            plug.tdp_port = port
        else:
            plug.udp_port = port
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((plug.host, port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"cannot bind UDP {plug.host}:{port}: {exc.strerror}"
            ) from None
        node.udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            functools.partial(udp.PlugDatagram, node), sock=sock
        )

    async def _listen_broadcast(self, port: int) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((BROADCAST, port))
        except OSError:
            sock.close()
            raise
        bound: int = sock.getsockname()[1]
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            functools.partial(udp.BroadcastDatagram, self._nodes, bound), sock=sock
        )
        self._broadcast[bound] = transport
        return bound

    async def switch_transport(
        self, host: str | SimPlug, transport: str, login_version: int = 2
    ) -> None:
        """A firmware update: the plug now speaks ``transport`` ("klap" or "aes").

        An old plug closes TCP 9999 and its 9999 discovery, then answers on HTTP and UDP
        20002; its identity (MAC, device id) stays. Sessions of the old transport are gone.
        """
        if transport not in ("klap", "aes") or login_version not in (1, 2):
            raise ValueError("a plug can be updated to klap or aes, login version 1 or 2")
        from kshell.simulator.web import make_web

        node = self._node(host)
        plug = node.plug
        if node.udp is not None:
            node.udp.close()
            node.udp = None
            await asyncio.sleep(0)  # the socket closes on the next loop turn
        await self._close_http(node)
        plug.transport, plug.login_version = transport, login_version
        node.web = make_web(plug, self.account)
        await self._bind_discovery(node)
        await self._sync(node)

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
        self._free_port.clear()
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
    def _network_changed(self, node: Node) -> Any:
        def changed() -> None:
            task = asyncio.get_running_loop().create_task(self._sync(node))
            self._tasks.add(task)
            task.add_done_callback(self._sync_done)

        return changed

    def _sync_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("simulator: %s", task.exception())

    async def _sync(self, node: Node) -> None:
        """Open or close the plug's TCP listener (and KLAP decoy) to match its state."""
        async with node.lock:
            await self._sync_locked(node)

    async def _sync_locked(self, node: Node) -> None:
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
        klap_port = None if plug.is_http else plug.faults.get("klap")  # a decoy for old plugs
        if klap_port and node.klap is None and not plug.down and "offline" not in plug.faults:
            node.klap = await asyncio.get_running_loop().create_server(
                DecoyHttp, plug.host, klap_port, reuse_address=True
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

    async def _close_tcp(self, node: Node) -> None:
        if node.server is not None:
            node.server.close()
            node.server = None
        for conn in list(node.conns):
            conn.abort()  # a rebooting plug drops its connections
        node.conns.clear()

    async def _close_http(self, node: Node) -> None:
        if node.http is not None:
            node.http.close()
            node.http = None
            if node.web is not None:
                node.web.expire_all()  # a rebooted plug has forgotten its sessions
        for conn in list(node.http_conns):
            conn.abort()
        node.http_conns.clear()

    async def _close_klap(self, node: Node) -> None:
        if node.klap is not None:
            node.klap.close()
            node.klap = None


__all__ = ["BROADCAST", "FAULTS", "Simulator"]
