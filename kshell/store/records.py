"""One plug as the device store keeps it (``DeviceRecord``), and what storing an answer did
(``Observation``): the row's shape, apart from the SQLite store (kshell.store.devices) that keeps it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kshell.device import sysinfo as dev
from kshell.device.transports.xor import DEFAULT_PORT

if TYPE_CHECKING:
    from kshell.device.state import Child, Info

HOW = ("broadcast", "direct", "sweep")  # how a plug was last heard


@dataclass
class DeviceRecord:
    """One plug as last heard. A new field needs a column: add a migration (see MIGRATIONS)."""

    host: str
    port: int = DEFAULT_PORT
    alias: str = ""
    mac: str = ""
    model: str = ""
    hw_ver: str = ""
    sw_ver: str = ""
    kind: str = "plug"
    state: str = ""  # on | off | "" unknown
    emeter: bool = False
    online: bool = True  # False only after a request made to it failed
    last_heard: float = 0.0
    heard_by: str = ""  # broadcast | direct | sweep
    children: list[dict[str, Any]] = field(default_factory=list)
    # how the plug speaks, so a later command goes straight to the right transport
    family: str = ""  # iot | smart ("" before it was known: the old generation's IOT)
    transport: str = ""  # xor | klap | aes, pinned to the MAC (kshell.device.announce)
    login_version: int = 0  # KLAP/AES login version; 0 for XOR
    factory_default: bool = False  # announced unclaimed: only then the setup credentials
    # an AES plug the owner trusts with the cloud login (AES cannot prove itself): "" never,
    # "hashed" login version 2 (SHA-1 of e-mail and password), "password" version 1 as well
    login_trust: str = ""

    @property
    def address(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    def heard_text(self, now: float | None = None) -> str:
        """'12s ago (broadcast)': when the plug was last heard, and how."""
        if not self.last_heard:
            return "never"
        seconds = max(0, int((now or time.time()) - self.last_heard))
        when = f"{seconds}s ago"
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                when = f"{seconds // size}{unit} ago"
                break
        return f"{when} ({self.heard_by})" if self.heard_by else when

    @classmethod
    def from_info(cls, host: str, port: int, info: Info, heard_by: str = "direct") -> DeviceRecord:
        """What a plug just said about itself, from the device layer's typed reading."""
        kids = [_stored_child(c) for c in info.children]
        state = info.relay
        if state is None and kids:
            state = any(c["state"] == "on" for c in kids)
        return cls(
            host=host,
            port=port,
            alias=info.alias,
            mac=normalise_mac(info.mac),
            model=info.model,
            hw_ver=info.hw_ver,
            sw_ver=info.sw_ver,
            kind=info.kind,
            state="" if state is None else ("on" if state else "off"),
            emeter=info.has_meter,
            online=True,
            last_heard=time.time(),
            heard_by=heard_by,
            children=kids,
        )

    @classmethod
    def from_sysinfo(
        cls, host: str, port: int, info: dict[str, Any], heard_by: str = "direct"
    ) -> DeviceRecord:
        state = dev.relay_state(info)
        kids = [
            {
                "number": c["number"],
                "id": c["id"],
                "alias": c["alias"],
                "state": "on" if c["state"] else "off" if c["state"] is not None else "",
            }
            for c in dev.children(info)
        ]
        if kids and state is None:
            state = any(c["state"] == "on" for c in kids)
        return cls(
            host=host,
            port=port,
            alias=dev.text(info, "alias") or "",
            mac=normalise_mac(dev.text(info, "mac") or dev.text(info, "mic_mac") or ""),
            model=dev.model(info),
            hw_ver=dev.text(info, "hw_ver") or "",
            sw_ver=dev.text(info, "sw_ver") or "",
            kind=dev.kind_of(info),
            state="" if state is None else ("on" if state else "off"),
            emeter=dev.has_emeter(info),
            online=True,
            last_heard=time.time(),
            heard_by=heard_by,
            children=kids,
        )


def _stored_child(child: Child) -> dict[str, Any]:
    state = "" if child.state is None else ("on" if child.state else "off")
    return {"number": child.number, "id": child.id, "alias": child.alias, "state": state}


def normalise_mac(text: str) -> str:
    """'50c7bf0a1b2c', '50-C7-BF-0A-1B-2C' -> '50:C7:BF:0A:1B:2C'; '' if not a MAC."""
    hexdigits = "".join(ch for ch in text if ch not in ":-").upper()
    if len(hexdigits) != 12 or any(ch not in "0123456789ABCDEF" for ch in hexdigits):
        return ""
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True)
class Observation:
    """What ``observe`` did with an answer."""

    record: DeviceRecord  # what the store now holds (on a conflict: the plug already known)
    conflict: DeviceRecord | None = None  # the MAC is known at another address: not stored
    moved_from: str = ""  # the address the plug had before (a DHCP move)
