"""Finding plugs: UDP broadcast on every interface, and a TCP sweep of a CIDR.

255.255.255.255 leaves by one interface only on a host with several, and no broadcast
crosses a VLAN: so we also send to each interface's own broadcast address, and offer a
unicast sweep for plugs on another subnet. The report says what was sent where.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from kshell.device import codec as protocol
from kshell.device import sysinfo as dev
from kshell.device.state import Info
from kshell.device.sysinfo import SYSINFO, check_answer
from kshell.device.udp import DEFAULT_PORT, Connection, Datagram, tcp_probe
from kshell.errors import KshellError, ProtocolError, UsageError
from kshell.store.devices import DeviceRecord

MAX_SWEEP = 65536  # a /16; more than that is a mistake, not a home network


@dataclass
class Interface:
    name: str
    address: str
    netmask: str
    broadcast: str


def interfaces() -> list[Interface]:
    """This machine's IPv4 interfaces, as netifaces reports them."""
    import netifaces

    out = []
    for name in netifaces.interfaces():
        for entry in netifaces.ifaddresses(name).get(netifaces.AF_INET, []):
            addr = entry.get("addr")
            if not addr:
                continue
            out.append(Interface(name, addr, entry.get("netmask", ""), entry.get("broadcast", "")))
    return out


def broadcast_targets(include_loopback: bool = False) -> list[tuple[str, str]]:
    """(interface, address) pairs: the limited broadcast plus each interface's own."""
    targets = [("all", "255.255.255.255")]
    for iface in interfaces():
        if ipaddress.IPv4Address(iface.address).is_loopback and not include_loopback:
            continue
        if iface.broadcast and (iface.name, iface.broadcast) not in targets:
            targets.append((iface.name, iface.broadcast))
    return targets


@dataclass
class Found:
    host: str
    port: int
    sysinfo: dict[str, Any]
    tcp_ok: bool | None = None
    kind: str = "plug"
    how: str = "broadcast"  # broadcast | sweep: how it was heard

    @property
    def info(self) -> Info:
        """The answer as the device layer reads it (an old-generation plug: IOT)."""
        from kshell.device.capabilities.info import info_of

        return info_of(self.sysinfo)


@dataclass
class DiscoveryReport:
    sent_to: list[tuple[str, str]] = field(default_factory=list)
    send_errors: list[tuple[str, str, str]] = field(default_factory=list)  # interface, addr, why
    found: list[Found] = field(default_factory=list)
    garbled: list[str] = field(default_factory=list)
    probed: int = 0
    elapsed: float = 0.0


def is_unicast(address: str) -> bool:
    """A single plug's address (its answer ends the wait), not a broadcast address."""
    try:
        addr = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    if str(addr) == "255.255.255.255" or addr.packed[3] in (0, 255):
        return False
    return all(address != iface.broadcast for iface in interfaces())


class Answered:
    """``discover --target`` of single plugs: the round ends once each has answered, on
    either protocol (a current-generation plug once its read is done). Shared by both."""

    def __init__(self, addresses: list[str]) -> None:
        unicast = bool(addresses) and all(is_unicast(a) for a in addresses)
        self.wanted = set(addresses) if unicast else set()
        self.heard: set[str] = set()
        self.everyone = asyncio.Event()

    def __call__(self, host: str) -> None:
        self.heard.add(host)
        if self.wanted and self.wanted <= self.heard:
            self.everyone.set()


class _Round(asyncio.DatagramProtocol):
    """One discovery round: every answer once, and every send error by destination.

    asyncio hands a failed ``sendto`` (ENETUNREACH, EACCES...) to ``error_received`` instead
    of raising it, so the address being sent to is noted first.
    """

    def __init__(self, limit: int, wanted: set[str], on_answer: Any) -> None:
        self.answers: dict[str, Datagram] = {}
        self.errors: dict[str, str] = {}
        self.sending = ""
        self.limit = limit
        self.wanted = wanted  # unicast targets: once all have answered, the round is over
        self.all_answered = asyncio.Event()
        self.on_answer = on_answer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        host, port = addr[0], addr[1]
        if host in self.answers or len(self.answers) >= self.limit:
            return
        try:
            self.answers[host] = Datagram(host, port, protocol.decode_datagram(data))
        except ProtocolError as exc:
            self.answers[host] = Datagram(host, port, None, exc)
        self.on_answer(self.answers[host])
        if self.wanted and self.wanted <= set(self.answers):
            self.all_answered.set()

    def error_received(self, exc: Exception) -> None:
        if self.sending:  # raised by our own sendto; ICMP errors arriving later mean nothing here
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.errors[self.sending] = why


async def _udp_round(
    addresses: list[str],
    request: dict[str, Any],
    port: int,
    timeout: float,
    on_answer: Any,
    until: asyncio.Event | None = None,
) -> _Round:
    """Send ``request`` to each address twice; collect answers until ``timeout``, or until
    every address has answered when all of them are single plugs (``discover --target``)."""
    loop = asyncio.get_running_loop()
    unicast = {a for a in addresses if is_unicast(a)}
    wanted = unicast if unicast == set(addresses) else set()
    transport, round_ = await loop.create_datagram_endpoint(
        lambda: _Round(4096, wanted, on_answer), family=socket.AF_INET, allow_broadcast=True
    )
    payload = protocol.encode_datagram(request)
    gap = min(0.2, timeout / 3)
    try:
        async with asyncio.timeout(timeout):
            for attempt in range(2):
                for address in addresses:
                    round_.sending = address
                    try:
                        transport.sendto(payload, (address, port))
                    except OSError as exc:
                        round_.errors[address] = exc.strerror or str(exc)
                    finally:
                        round_.sending = ""
                if len(round_.errors) == len(addresses):
                    break  # nothing left the machine: nothing can answer
                if attempt == 0:
                    await asyncio.sleep(gap)
            if len(round_.errors) < len(addresses):
                await _first(round_.all_answered, until)
    except TimeoutError:
        pass
    finally:
        transport.close()
    return round_


async def ask_round(
    addresses: list[str], port: int, timeout: float, on_answer: Any, until: asyncio.Event
) -> None:
    """One sysinfo round to ``addresses``, each answer handed to ``on_answer`` as it comes,
    until ``until`` is set or ``timeout`` (the identity check's search for one MAC)."""
    await _udp_round(addresses, SYSINFO, port, timeout, on_answer, until)


async def _first(event: asyncio.Event, other: asyncio.Event | None) -> None:
    """Wait until either event is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in (event, other) if e is not None]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def broadcast(
    targets: list[tuple[str, str]],
    port: int,
    timeout: float,
    *,
    tcp_port: int = DEFAULT_PORT,
    check_tcp: bool = True,
    answered: Answered | None = None,
) -> DiscoveryReport:
    """Broadcast get_sysinfo; each answer's TCP side is probed while the window is open.
    ``answered``: the named plugs heard on either protocol (the round ends when all have)."""
    report = DiscoveryReport(sent_to=targets)
    probes: dict[str, asyncio.Task[bool]] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()

    def on_answer(datagram: Datagram) -> None:
        if check_tcp and datagram.answer is not None:
            probes[datagram.host] = loop.create_task(
                tcp_probe(datagram.host, tcp_port, min(1.0, max(0.2, timeout / 2)))
            )
        if answered is not None:
            answered(datagram.host)

    until = answered.everyone if answered is not None else None
    addresses = [addr for _, addr in targets]
    round_ = await _udp_round(addresses, SYSINFO, port, timeout, on_answer, until)
    names = {addr: name for name, addr in targets}
    report.send_errors = [(names.get(a, "?"), a, why) for a, why in sorted(round_.errors.items())]
    if probes:  # a unicast round ends early: give its probes their own short window
        early = round_.all_answered.is_set() or (until is not None and until.is_set())
        wait = min(1.0, max(0.2, timeout / 2)) if early else 0.05
        await asyncio.wait(probes.values(), timeout=wait)
    for datagram in round_.answers.values():
        if datagram.answer is None:
            report.garbled.append(f"{datagram.host}: {datagram.error}")
            continue
        try:
            info = check_answer(datagram.answer, "system", "get_sysinfo", datagram.host)
        except KshellError as exc:
            report.garbled.append(str(exc))
            continue
        task = probes.get(datagram.host)
        tcp_ok = task.result() if task is not None and task.done() else None
        report.found.append(Found(datagram.host, tcp_port, info, tcp_ok, dev.kind_of(info)))
    for task in probes.values():
        task.cancel()
    report.elapsed = loop.time() - started
    return report


def sweep_hosts(cidr: str) -> list[str]:
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError as exc:
        raise UsageError(f"not a CIDR network: {cidr} ({exc})") from None
    if network.num_addresses > MAX_SWEEP:
        raise UsageError(f"{cidr} has {network.num_addresses} addresses; sweep at most a /16")
    hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
    return [str(h) for h in hosts]


async def sweep(cidr: str, port: int, timeout: float, concurrency: int = 256) -> DiscoveryReport:
    """Ask every address in ``cidr`` for sysinfo over TCP, ``concurrency`` at a time."""
    hosts = sweep_hosts(cidr)
    report = DiscoveryReport(sent_to=[("sweep", cidr)], probed=len(hosts))
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def probe(host: str) -> None:
        async with gate:
            conn = Connection(host, port, timeout)
            try:
                answer = await conn.query(SYSINFO, idempotent=True)
                info = check_answer(answer, "system", "get_sysinfo", host)
            except KshellError as exc:
                if exc.kind in ("protocol", "device", "unsupported"):
                    report.garbled.append(str(exc))
                return
            finally:
                conn.close()
            report.found.append(Found(host, port, info, True, dev.kind_of(info), "sweep"))

    await asyncio.gather(*(probe(h) for h in hosts))
    report.found.sort(key=lambda f: ipaddress.IPv4Address(f.host))
    report.elapsed = loop.time() - started
    return report


def record_of(found: Found) -> DeviceRecord:
    return DeviceRecord.from_sysinfo(found.host, found.port, found.sysinfo, heard_by=found.how)
