"""Which plug answered: store what it said about itself, with its name and MAC guarded; and
before a command changes a plug, check that the plug at the address is the one named.

A plug's answer is stored record by record (kshell.store.devices); a MAC already known at another
address moves only when the old address no longer answers with it (``answers_as``), and a
name another process changed while the plug was being asked is kept. ``link_of``
(kshell.core.target) reads how the store says a plug speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kshell.core.session import Session
from kshell.core.target import Target, link_of
from kshell.device.pool import XOR
from kshell.errors import KshellError
from kshell.results import Record, Result, Table, Text
from kshell.store.devices import DeviceRecord, Observation, normalise_mac
from kshell.text import clean

if TYPE_CHECKING:
    from kshell.device.device import Device
    from kshell.device.state import Info
    from kshell.device.tdp import Announcement


async def remember(
    session: Session,
    host: str,
    port: int,
    info: Info,
    how: str = "direct",
    *,
    replace: bool = False,
    asked: DeviceRecord | None = None,
) -> Observation:
    """Store what the plug at host:port said about itself, guarding names against theft
    (``asked``: the stored record when the plug was asked, see DeviceStore.observe).

    Its MAC known at another address moves there only when the old address no longer answers
    with that MAC (a DHCP move), or ``replace`` (the operator's ``add HOST --replace``) says so;
    when both answer, the known plug is kept and the observation names the conflict.
    """
    record = DeviceRecord.from_info(host, port, info, heard_by=how)
    link = session.devices.link(host, port) or XOR
    record.family, record.transport = link.family, link.transport
    record.login_version = link.login_version if link.encrypted else 0
    record.factory_default = link.factory_default
    # an AES plug keeps the trust it was read under, as far as it answered with its MAC
    if link.transport == "aes":
        record.login_trust = session.devices.login_trust(host, port, record.mac)
    seen = await session.store.observe_async(record, asked=asked)
    if seen.conflict is None:
        return seen
    if replace or not await answers_as(session, seen.conflict):
        return await session.store.observe_async(record, move=True)
    return seen


async def answers_as(session: Session, record: DeviceRecord) -> bool:
    """Does the plug at ``record``'s address still answer with ``record``'s MAC?"""
    link = link_of(record) or session.devices.link(record.host, record.port) or XOR
    device = session.devices.detached(record.host, record.port, link, min(session.timeout, 2.0))
    try:
        info = await device.update()
    except KshellError:
        return False
    finally:
        device.close()
    return normalise_mac(info.mac) == record.mac


# -- identity before action (issue 18): the plug at the address must be the one named ---------
class NotThePlug(KshellError):
    """The address answered as another plug, and the named one was found nowhere."""

    kind = "identity"


def pinned(target: Target) -> bool:
    """Does the target name a plug (its MAC) rather than an address? An address names
    whoever answers there; an alias, a MAC, ``all`` or ALIAS/N name the stored plug."""
    return not target.by_address and target.record is not None and bool(target.record.mac)


def answers_for(target: Target, info: Info) -> bool:
    """Is ``info`` (what the target's address answered) the plug the target names: its MAC,
    and for an outlet the outlet's id (which carries the strip's device id)?"""
    if not pinned(target):
        return True
    assert target.record is not None
    if normalise_mac(info.mac) != target.record.mac:  # a plug that says no MAC proves nothing
        return False
    return target.child_id is None or info.child(target.child_id) is not None


def who(alias: str, mac: str) -> str:
    return clean(f"{alias or '?'} ({mac or 'no MAC'})", 120)


def stranger(target: Target, info: Info) -> str:
    """The note a read carries when the address answered as another plug."""
    record = target.record
    assert record is not None
    return (
        f"different plug: asked for {who(record.alias, record.mac)}, but {target.address} "
        f"is now {who(info.alias, normalise_mac(info.mac))}"
    )


async def verified(session: Session, target: Target) -> None:
    """Before a command changes the target: make sure its address holds the plug it names.

    One sysinfo read on the kept connection (none when this line already read it: the
    check of an earlier command, a read before); on a mismatch the named plug is searched
    for (``follow``) and the target moves to it, or NotThePlug is raised and nothing is sent.
    A plug applies every module of a request it gets (both simulators do, and firmware
    answers them in one reply), so the read cannot ride in front of the write: it comes first.
    """
    if not pinned(target):
        return
    device = target.device(session)
    info = device.info
    if info is None or not 0 < session.invocation.line_started <= device.read_at:
        info = await device.update()
    if not answers_for(target, info):
        await follow(session, target, info)


async def follow(session: Session, target: Target, answered: Info) -> Device:
    """The named plug is not at its address: find it by broadcast (UDP 9999 and 20002, the
    session's discovery settings), check it there, move the target and the store to it, and
    store who holds the old address. Raises NotThePlug when it is not found."""
    from kshell.device.pool import make_device

    record = target.record
    assert record is not None
    old = target.address
    found = await search(session, record.mac, exclude=target.host)
    device, info = None, None
    if found is not None:
        host, port = found
        link = link_of(record) or XOR
        device = make_device(host, port, link, session.timeout, session.credentials)
        try:
            info = await device.update()
        except KshellError:
            info = None
        finally:
            device.close()
        moved = type(target)(host, port, record, target.child_id, target.outlet)
        if info is not None and answers_for(moved, info):
            session.devices.learn(host, port, link)
            seen = await remember(session, host, port, info, replace=True)
            await remember(session, target.host, target.port, answered)
            target.host, target.port, target.record = host, port, seen.record
            target.note = f"found at {target.address} (it moved from {old})"
            return target.device(session)
    raise NotThePlug(
        f"{who(record.alias, record.mac)} is not at {old} any more: {old} is now "
        f"{who(answered.alias, normalise_mac(answered.mac))}, and no plug answered a search "
        f"for {record.mac}; nothing was changed",
        target=target.label,
    )


async def search(session: Session, mac: str, *, exclude: str = "") -> tuple[str, int] | None:
    """Where the plug with ``mac`` answers a broadcast now: (host, port), or None.

    Both generations are asked at once, with the session's discovery settings: the sysinfo
    probe on UDP 9999 and the announcement probe on UDP 20002; the first answer with that
    MAC ends the wait."""
    import asyncio

    from kshell.core.discovery import broadcast as discovery
    from kshell.device import sysinfo as dev
    from kshell.device import tdp

    wanted = normalise_mac(mac)
    hit = asyncio.Event()
    where: list[tuple[str, int]] = []

    def note(host: str, port: int, said: str) -> None:
        if normalise_mac(said) == wanted and host != exclude and not hit.is_set():
            where.append((host, port))
            hit.set()

    def old_generation(datagram: Any) -> None:
        answer = datagram.answer
        system = answer.get("system") if isinstance(answer, dict) else None
        info = system.get("get_sysinfo") if isinstance(system, dict) else None
        if isinstance(info, dict):
            said = dev.text(info, "mac") or dev.text(info, "mic_mac") or ""
            note(datagram.host, session.discovery.tcp_port, said)

    def current(found: Announcement) -> None:
        note(found.host, found.http_port, found.mac)

    addresses = list(session.discovery.broadcast)
    if addresses == ["auto"]:
        addresses = [address for _, address in discovery.broadcast_targets()]
    timeout = session.discovery.timeout
    await asyncio.gather(
        discovery.ask_round(addresses, session.discovery.port, timeout, old_generation, hit),
        tdp.listen(addresses, session.tdp_port, timeout, on_answer=current, until=hit),
    )
    return where[0] if where else None


def mark(result: Result, note: str) -> Result:
    """A target's result with what the identity check found said on it (text and JSON)."""

    key = "different_plug" if note.startswith("different plug") else "identity"
    if isinstance(result, Text):
        data = dict(result.data) if result.data is not None else {"message": result.text}
        return Text(f"{result.text} ({note})", {**data, key: note})
    if isinstance(result, Record):
        result.data = {**result.data, key: note}
        result.title = f"{result.title}: {note}"
    elif isinstance(result, Table):
        result.footer = "\n".join(filter(None, [result.footer, note]))
    return result
