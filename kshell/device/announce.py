"""What discovery does with a current-generation plug's announcement: read it through the
device layer (with the owner's credentials where the pool allows), and decide whether a known
plug that now speaks another transport is followed.

An announcement is a claim anyone on the network can make. An AES plug is logged in to only
when the pool trusts that address with that claimed MAC (``DevicePool.login_trust``); any
other is "not logged in" and nothing is sent to it, so a MAC stored as KLAP that now announces
AES is refused before any handshake, not after.

The transport a plug used is pinned to its MAC: a plug that moves to KLAP (a firmware update,
the usual cause) is followed once the KLAP handshake proved it knows the owner's credentials;
a move to AES, which proves nothing (it sends the credentials to whoever answers), is reported
and not followed until the owner says so (``add HOST --replace``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kshell.device.device import Device
from kshell.device.pool import DevicePool
from kshell.device.state import Info
from kshell.device.tdp import Announcement
from kshell.device.transports import defaults
from kshell.errors import AuthenticationError, KshellError, Unproven

SAME, FOLLOW, HOLD = "same", "follow", "hold"
NOT_LOGGED_IN = "not logged in"  # an AES plug the owner does not trust: nothing was sent


@dataclass
class Heard:
    """One announced plug, read (``info``) or not (``problem`` says why, in a few words)."""

    announcement: Announcement
    info: Info | None = None
    problem: str = ""  # "" | needs credentials | credentials failed | not logged in | ...
    proven: bool = False  # the plug proved it knows the owner's credentials (KLAP)
    unclaimed: bool = False  # it took the vendor's setup credentials

    @property
    def port(self) -> int:
        return self.announcement.http_port


async def read(pool: DevicePool, announcement: Announcement, timeout: float) -> Heard:
    """The plug's state over the link it announced, within ``timeout``."""
    heard = Heard(announcement)
    host, port = announcement.host, announcement.http_port
    pool.learn(host, port, announcement.link, announcement.mac)
    try:
        device = pool.get(host, port)
        async with asyncio.timeout(timeout):
            heard.info = await device.update()
    except Unproven:
        heard.problem = NOT_LOGGED_IN
        return heard
    except AuthenticationError as exc:
        creds = pool.credentials()
        heard.problem = (
            "needs credentials" if creds is None or creds.blank else "credentials failed"
        )
        if "third-party" in exc.message:
            heard.problem = "third-party compatibility off"
        return heard
    except TimeoutError:
        heard.problem = "no answer in time"
        return heard
    except KshellError as exc:
        heard.problem = exc.message[:120]
        return heard
    transport = device.protocol.transport
    source = getattr(transport, "credentials_source", None)
    heard.unclaimed = isinstance(source, str) and source != defaults.OWNER
    heard.proven = bool(getattr(transport, "authenticates_plug", False)) and not heard.unclaimed
    return heard


def pin_device(known_transport: str, now: str, device: Device) -> str:
    """``pin`` for a plug read directly (``add HOST``) over transport ``now``."""
    transport = device.protocol.transport
    source = getattr(transport, "credentials_source", None)
    proven = bool(getattr(transport, "authenticates_plug", False)) and source == defaults.OWNER
    if not known_transport or known_transport == now:
        return SAME
    return FOLLOW if now == "klap" and proven else HOLD


def pin(known_transport: str, heard: Heard) -> str:
    """SAME, FOLLOW or HOLD for a known plug (same MAC) heard speaking ``heard``'s transport."""
    now = heard.announcement.link.transport
    if not known_transport or known_transport == now:
        return SAME
    if now == "klap" and heard.proven:
        return FOLLOW  # the handshake proved it knows the owner's credentials
    return HOLD  # AES (proves nothing), or a KLAP plug that did not prove itself
