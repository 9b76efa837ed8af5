"""The device cache: every plug ever seen, saved in the state folder.

Plugs that stop answering are marked offline, never forgotten (only ``forget`` drops
one). Keyed by MAC when known, since a plug's DHCP address can change.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kshell import device as dev
from kshell.transport import DEFAULT_PORT


@dataclass
class DeviceRecord:
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
    online: bool = True
    last_seen: float = 0.0
    children: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.mac or self.address  # mac is normalised when the record is made

    @property
    def address(self) -> str:
        return self.host if self.port == DEFAULT_PORT else f"{self.host}:{self.port}"

    @classmethod
    def from_sysinfo(cls, host: str, port: int, info: dict[str, Any]) -> DeviceRecord:
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
            last_seen=time.time(),
            children=kids,
        )


def normalise_mac(text: str) -> str:
    """'50c7bf0a1b2c', '50-C7-BF-0A-1B-2C' -> '50:C7:BF:0A:1B:2C'; '' if not a MAC."""
    hexdigits = "".join(ch for ch in text if ch not in ":-").upper()
    if len(hexdigits) != 12 or any(ch not in "0123456789ABCDEF" for ch in hexdigits):
        return ""
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


class DeviceCache:
    """Records in memory, written atomically to ``devices.json``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: dict[str, DeviceRecord] = {}
        self._by_address: dict[tuple[str, int], str] = {}
        self._dirty = False
        if path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # no cache yet, or a damaged one: start empty rather than fail
        names = {f.name for f in fields(DeviceRecord)}
        for item in raw.get("devices", []) if isinstance(raw, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("host"), str):
                try:
                    record = DeviceRecord(**{k: v for k, v in item.items() if k in names})
                except TypeError:
                    continue
                record.mac = normalise_mac(str(record.mac))
                self._put(record)

    def _put(self, record: DeviceRecord) -> None:
        self.records[record.key] = record
        self._by_address[(record.host, record.port)] = record.key

    def save(self) -> None:
        """Write the cache if anything changed (atomically: a crash leaves the old file)."""
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"devices": [dict(vars(r)) for r in self.all()]}, indent=1))
        os.replace(tmp, self.path)
        self._dirty = False

    def all(self) -> list[DeviceRecord]:
        return sorted(self.records.values(), key=lambda r: (r.alias.lower(), r.host))

    def merge(self, record: DeviceRecord) -> DeviceRecord:
        """Add or refresh a record; a plug that moved address keeps its one entry."""
        old_key = self._by_address.get((record.host, record.port))
        if old_key is not None and old_key != record.key:
            self.records.pop(old_key, None)  # that address now belongs to this plug
        previous = self.records.get(record.key)
        if previous is not None and (previous.host, previous.port) != (record.host, record.port):
            self._by_address.pop((previous.host, previous.port), None)  # the plug moved
        self._put(record)
        self._dirty = True
        return record

    def by_address(self, host: str, port: int) -> DeviceRecord | None:
        key = self._by_address.get((host, port))
        return self.records.get(key) if key is not None else None

    def mark(self, host: str, port: int, online: bool) -> None:
        record = self.by_address(host, port)
        if record is not None:
            record.online = online
            if online:
                record.last_seen = time.time()
            self._dirty = True

    def set_offline(self, record: DeviceRecord) -> None:
        record.online = False
        self._dirty = True

    def remove(self, record: DeviceRecord) -> None:
        self.records.pop(record.key, None)
        self._by_address.pop((record.host, record.port), None)
        self._dirty = True
