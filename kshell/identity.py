"""Which plug answered: store what it said about itself, with its name and MAC guarded.

A plug's answer is stored record by record (kshell.cache); a MAC already known at another
address moves only when the old address no longer answers with it (``answers_as``), and a
name another process changed while the plug was being asked is kept. ``link_of`` reads how
the store says a plug speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kshell.cache import DeviceRecord, Observation, normalise_mac
from kshell.device.pool import XOR, Link
from kshell.errors import KshellError
from kshell.session import Session

if TYPE_CHECKING:
    from kshell.device.state import Info


def link_of(record: DeviceRecord | None) -> Link | None:
    """How the store says a plug speaks; None when it does not know (the pool's default)."""
    family = getattr(record, "family", "") or ""
    transport = getattr(record, "transport", "") or ""
    if not family or not transport:
        return None
    return Link(
        family=family,
        transport=transport,
        login_version=int(getattr(record, "login_version", 0) or 2),
        factory_default=bool(getattr(record, "factory_default", False)),
    )


async def remember(
    ctx: Session,
    host: str,
    port: int,
    info: Info,
    how: str = "direct",
    *,
    replace: bool = False,
    asked: DeviceRecord | None = None,
) -> Observation:
    """Store what the plug at host:port said about itself, guarding names against theft
    (``asked``: the stored record when the plug was asked, see DeviceCache.observe).

    Its MAC known at another address moves there only when the old address no longer answers
    with that MAC (a DHCP move), or ``replace`` (the operator's ``add HOST --replace``) says so;
    when both answer, the known plug is kept and the observation names the conflict.
    """
    record = DeviceRecord.from_sysinfo(host, port, info.summary(), heard_by=how)
    link = ctx.devices.link(host, port) or XOR
    record.family, record.transport = link.family, link.transport
    record.login_version = link.login_version if link.encrypted else 0
    record.factory_default = link.factory_default
    # an AES plug keeps the trust it was read under, as far as it answered with its MAC
    if link.transport == "aes":
        record.login_trust = ctx.devices.login_trust(host, port, record.mac)
    seen = await ctx.cache.observe_async(record, asked=asked)
    if seen.conflict is None:
        return seen
    if replace or not await answers_as(ctx, seen.conflict):
        return await ctx.cache.observe_async(record, move=True)
    return seen


async def answers_as(ctx: Session, record: DeviceRecord) -> bool:
    """Does the plug at ``record``'s address still answer with ``record``'s MAC?"""
    link = link_of(record) or ctx.devices.link(record.host, record.port) or XOR
    device = ctx.devices.detached(record.host, record.port, link, min(ctx.timeout, 2.0))
    try:
        info = await device.update()
    except KshellError:
        return False
    finally:
        device.close()
    return normalise_mac(info.mac) == record.mac
