"""Finding plugs: UDP broadcast on every interface, and a TCP sweep of a CIDR.

255.255.255.255 leaves by one interface only on a host with several, and no broadcast
crosses a VLAN: so we also send to each interface's own broadcast address, and offer a
unicast sweep for plugs on another subnet. The report says what was sent where.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from kshell import device as dev
from kshell.cache import DeviceRecord
from kshell.device import SYSINFO, check_answer
from kshell.errors import KshellError, UsageError
from kshell.transport import DEFAULT_PORT, Connection, tcp_probe, udp_query

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


@dataclass
class DiscoveryReport:
    sent_to: list[tuple[str, str]] = field(default_factory=list)
    send_errors: list[tuple[str, str]] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)
    garbled: list[str] = field(default_factory=list)
    probed: int = 0
    elapsed: float = 0.0


async def broadcast(
    targets: list[tuple[str, str]],
    port: int,
    timeout: float,
    *,
    tcp_port: int = DEFAULT_PORT,
    check_tcp: bool = True,
) -> DiscoveryReport:
    """Broadcast get_sysinfo; each answer's TCP side is probed while the window is open."""
    report = DiscoveryReport(sent_to=targets)
    probes: dict[str, asyncio.Task[bool]] = {}
    loop = asyncio.get_running_loop()
    started = loop.time()

    def on_answer(datagram: Any) -> None:
        if check_tcp and datagram.answer is not None:
            probes[datagram.host] = loop.create_task(
                tcp_probe(datagram.host, tcp_port, min(1.0, max(0.2, timeout / 2)))
            )

    answers, report.send_errors = await udp_query(
        [addr for _, addr in targets], SYSINFO, port=port, timeout=timeout, on_answer=on_answer
    )
    if probes:
        await asyncio.wait(probes.values(), timeout=0.05)
    for datagram in answers:
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
            report.found.append(Found(host, port, info, True, dev.kind_of(info)))

    await asyncio.gather(*(probe(h) for h in hosts))
    report.found.sort(key=lambda f: ipaddress.IPv4Address(f.host))
    report.elapsed = loop.time() - started
    return report


def record_of(found: Found) -> DeviceRecord:
    return DeviceRecord.from_sysinfo(found.host, found.port, found.sysinfo)
