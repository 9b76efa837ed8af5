"""One plug a command acts on (``Target``), and how the store says it speaks (``link_of``).

Below both the resolver (``targets``), which makes targets from words, and the identity
check (``identity``), which checks that the plug answering a target is the one named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kshell.core.session import Session
from kshell.device.pool import XOR, Link
from kshell.device.transports.xor import DEFAULT_PORT
from kshell.store.devices import DeviceRecord
from kshell.text import clean

if TYPE_CHECKING:
    from kshell.device.device import Device


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


@dataclass
class Target:
    """One plug (or a strip's outlet) a command acts on, with its store record if known."""

    host: str
    port: int = DEFAULT_PORT
    record: DeviceRecord | None = None
    child_id: str | None = None
    outlet: int | None = None  # N of alias/N, counted from 1
    by_address: bool = False  # named by address: whoever answers there (no identity check)
    note: str = ""  # what the identity check found (kshell.core.identity), said on the result
    unrecorded: str = ""  # why the store could not record what the plug said (it did act)

    @property
    def label(self) -> str:
        """The plug's name as shown: one line whatever the plug calls itself."""
        base = self.record.alias if self.record and self.record.alias else self.address
        return clean(f"{base}/{self.outlet}" if self.outlet else base, 120)

    @property
    def address(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    def device(self, session: Session) -> Device:
        """The plug's device from the session's pool (an outlet is named by ``child_id``)."""
        return session.devices.get(self.host, self.port, link_of(self.record))

    def probe(self, session: Session, timeout: float) -> Device:
        """A device of its own with a short timeout, outside the pool (reboot watching)."""
        link = link_of(self.record) or session.devices.link(self.host, self.port) or XOR
        return session.devices.detached(self.host, self.port, link, timeout)
