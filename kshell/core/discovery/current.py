"""Discovery of the current generation: the UDP 20002 announcement (beside the 9999 broadcast)
and, in a sweep, HTTP port 80 confirmed by a unicast 20002 probe (an open port 80 is not a
plug; a host that did not announce itself is never handshaken with). Each announced plug is
read through the device layer with the owner's credentials while the window is open, except
an AES plug the owner has not trusted: it is listed, from what it announced, and sent nothing.

What is stored follows the transport pinned to the plug's MAC (``kshell.device.announce``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kshell.core.session import Session
from kshell.device import announce, tdp
from kshell.device.announce import NOT_LOGGED_IN, Heard
from kshell.device.pool import allows
from kshell.device.transports.xor import HTTP_PORT
from kshell.device.udp import DEFAULT_PORT, tcp_probe
from kshell.errors import KshellError, TargetError
from kshell.store.devices import DeviceRecord, normalise_mac

UNPROVEN_NOTE = (
    "AES plug, not logged in (model and MAC as it announced them, unverified; nothing was "
    "sent to it): add HOST to trust it"
)
READ_GRACE = 0.05  # after the window: reads still running get this long (the +0.1 s budget)


async def listen(
    session: Session,
    addresses: list[str],
    timeout: float,
    until: asyncio.Event | None = None,
    answered: Callable[[str], None] | None = None,
) -> list[Heard]:
    """Announcements to the probe sent to ``addresses``; each plug read as it announces
    (``answered`` is told each host once its read is done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reads: dict[str, asyncio.Task[Heard]] = {}

    def on_answer(found: tdp.Announcement) -> None:
        limit = max(0.2, deadline - loop.time())
        reads[found.host] = task = loop.create_task(announce.read(session.devices, found, limit))
        if answered is not None:
            task.add_done_callback(lambda _: answered(found.host))

    announced = await tdp.listen(
        addresses, session.tdp_port, timeout, on_answer=on_answer, until=until
    )
    return await _settle(announced, reads)


async def sweep(
    session: Session, hosts: list[str], timeout: float, concurrency: int = 256
) -> list[Heard]:
    """Every host with port 80 open that confirms, on UDP 20002, that it is a plug."""
    gate = asyncio.Semaphore(concurrency)

    async def one(host: str) -> Heard | None:
        async with gate:
            if not await tcp_probe(host, 80, timeout):
                return None
            found = await tdp.probe(host, session.tdp_port, timeout)
        return None if found is None else await announce.read(session.devices, found, timeout * 2)

    return [h for h in await asyncio.gather(*(one(h) for h in hosts)) if h is not None]


async def _settle(
    announced: list[tdp.Announcement], reads: dict[str, asyncio.Task[Heard]]
) -> list[Heard]:
    if reads:
        await asyncio.wait(reads.values(), timeout=READ_GRACE)
    out = []
    for found in announced:
        task = reads.get(found.host)
        if task is not None and task.done() and not task.cancelled():
            out.append(task.result())
        else:
            if task is not None:
                task.cancel()
            out.append(Heard(found, problem="no answer in time"))
    return out


@dataclass
class Merged:
    """What the store took from the announcements, and what the report says about them."""

    records: list[DeviceRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    heard: set[str] = field(default_factory=set)  # every host that announced itself


async def store(session: Session, heard: list[Heard], how: str) -> Merged:
    """Remember the plugs read; name those that need credentials, moved, or are held."""
    from kshell.core.identity import remember

    out = Merged()
    needs, failed, unclaimed, moved, held, silent = [], [], [], [], [], []
    unproven: list[str] = []
    for one in heard:
        found, name = one.announcement, one.announcement.host
        out.heard.add(name)
        known = session.store.by_mac(normalise_mac(found.mac))
        decision = announce.pin(known.transport or "xor", one) if known else announce.SAME
        if known is not None and decision == announce.HOLD:
            held.append(f"{known.alias or known.address} now answers over {found.label}")
            continue
        if one.info is None:
            where = f"{name} ({found.model})"
            if one.problem == "needs credentials":
                needs.append(where)
            elif one.problem == "credentials failed":
                failed.append(where)
            elif one.problem == NOT_LOGGED_IN:
                unproven.append(f"{name} ({found.model}, MAC {normalise_mac(found.mac)})")
            else:
                silent.append(f"{where}: {one.problem}")
            if known is None:  # what the announcement tells: enough to reach it later
                listed = await session.store.observe_async(_record_of(found, how))
                if one.problem == NOT_LOGGED_IN and listed.conflict is None:
                    out.records.append(listed.record)
            continue
        seen = await remember(
            session, name, one.port, one.info, how, replace=decision == announce.FOLLOW
        )
        if seen.conflict is not None:
            continue
        out.records.append(seen.record)
        if decision == announce.FOLLOW and known is not None:
            moved.append(f"{known.alias or name} now speaks {found.label} (proven)")
        if one.unclaimed:
            unclaimed.append(seen.record.alias or name)
    for label, names in (
        ("need credentials (set KSHELL_USERNAME and KSHELL_PASSWORD, or login)", needs),
        ("credentials failed", failed),
        ("unclaimed (factory default: set them up in the Kasa/Tapo app)", unclaimed),
        ("moved", moved),
        ("not followed (AES proves nothing; add HOST --replace if the change is yours)", held),
        ("announced but unread", silent),
        (UNPROVEN_NOTE, unproven),
    ):
        if names:
            out.notes.append(f"{label}: {', '.join(names)}")
    out.data = {
        "current_generation": len(heard),
        "need_credentials": needs,
        "credentials_failed": failed,
        "unclaimed": unclaimed,
        "moved": moved,
        "not_followed": held,
        "not_logged_in": unproven,
    }
    return out


def _record_of(found: tdp.Announcement, how: str) -> DeviceRecord:
    import time

    return DeviceRecord(
        host=found.host,
        port=found.http_port,
        mac=normalise_mac(found.mac),
        model=found.model,
        family=found.link.family,
        transport=found.link.transport,
        login_version=found.link.login_version,
        factory_default=found.factory_default,
        last_heard=time.time(),
        heard_by=how,
    )


# -- add HOST -----------------------------------------------------------------------------
def check_pinned(session: Session, host: str, port: int, info: Any, replace: bool) -> None:
    """A known plug (same MAC) now reached another way: followed, or held until --replace."""
    known = session.store.by_mac(normalise_mac(info.mac))
    if known is None or replace:
        return
    device = session.devices.get(host, port)
    link = session.devices.link(host, port)
    was = known.transport or "xor"
    if announce.pin_device(was, link.transport if link else "xor", device) == announce.HOLD:
        now = link.transport.upper() if link else "XOR"
        raise TargetError(
            f"{known.alias or known.address} spoke {was.upper()} and now answers over {now}, "
            "which does not prove it knows the password: not followed; if the change is "
            f"yours (a firmware update), add {host} --replace",
            target=host,
        )


# asked before an announced AES plug the owner does not trust yet is sent the login: the
# trust the owner gives it (pool.HASHED or pool.PASSWORD), or it raises Refused; given the
# announcement and the port the plug is reached on
Consent = Callable[[tdp.Announcement, int], Awaitable[str]]


async def identify(
    session: Session, host: str, port: int, consent: Consent | None = None, replace: bool = False
) -> tuple[int, Any]:
    """Find out what a plug speaks: its UDP 20002 announcement (KLAP or AES, IOT or SMART
    inside), asked while the old protocol is tried on PORT; returns (port, its Info).

    An AES plug is sent the owner's login only as far as the store trusts it or ``consent``
    grants; its MAC pin is checked before any handshake (``replace`` lifts it)."""
    announced = asyncio.ensure_future(tdp.probe(host, session.tdp_port, min(1.0, session.timeout)))
    try:
        if port != HTTP_PORT:
            try:
                return port, await session.devices.get(host, port).update()
            except KshellError:
                if await announced is None:
                    raise
        found = await announced
        if found is None:  # never handshake with a host that did not announce itself
            raise KshellError(
                "did not announce itself on UDP 20002: not a plug kshell can talk to",
                target=f"{host}:{port}",
            )
        port = found.http_port if port == DEFAULT_PORT else port
        session.devices.learn(host, port, found.link, found.mac)
        if found.link.transport == "aes":
            await _trust_aes(session, host, port, found, consent, replace)
        return port, await session.devices.get(host, port).update()
    finally:
        announced.cancel()


async def _trust_aes(
    session: Session,
    host: str,
    port: int,
    found: tdp.Announcement,
    consent: Consent | None,
    replace: bool,
) -> None:
    """Before any handshake with an announced AES plug: a MAC pinned to another transport is
    not followed (unless ``replace``), and an address the store does not trust asks
    ``consent`` (without one, the device layer sends nothing)."""
    known = session.store.by_mac(normalise_mac(found.mac))
    was = (known.transport or "xor") if known is not None else "aes"
    if known is not None and was != "aes" and not replace:
        raise TargetError(
            f"{known.alias or known.address} spoke {was.upper()} and now announces AES, "
            "which does not prove it knows the password: not followed, nothing sent; if the "
            f"change is yours (a firmware update), add {host} --replace",
            target=host,
        )
    if consent is not None and not allows(session.devices.login_trust(host, port), found.link):
        session.devices.grant(host, port, await consent(found, port))
