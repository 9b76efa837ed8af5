"""Typed readings of a plug, the same for every family: what commands and streams read.

Each family's modules build these from their own answers (checking every type: what a
plug says is untrusted); nothing above the device layer reads a raw answer by string keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Child(NamedTuple):
    """One outlet of a strip: ``number`` counts from 1 (a SMART child's ``position``)."""

    number: int
    id: str
    alias: str
    state: bool | None
    on_time: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "id": self.id,
            "alias": self.alias,
            "state": self.state,
            "on_time": self.on_time,
        }


class Info(NamedTuple):
    """What a plug says about itself, read once by ``Device.update`` (immutable; NamedTuples
    here because a one-shot command defines these classes on every start, and a dataclass
    costs far more to define)."""

    family: str  # "iot" | "smart": for the store and `info`, never for a branch above
    alias: str
    model: str
    kind: str  # plug | strip | dimmer | bulb | unknown
    mac: str
    hw_ver: str
    sw_ver: str
    relay: bool | None  # None on a strip parent
    led: bool | None
    on_time: int | None
    has_meter: bool
    updating: bool
    children: tuple[Child, ...]
    hw: dict[str, str]  # sw_ver, hw_ver, mac, type, hwId...
    raw: dict[str, Any]  # shown by `info` (base64 decoded)

    def child(self, child_id: str | None) -> Child | None:
        return next((c for c in self.children if c.id == child_id), None)

    def is_on(self, child_id: str | None = None) -> bool | None:
        """The relay, an outlet's relay, or for a strip: is any outlet on?"""
        if child_id:
            child = self.child(child_id)
            return None if child is None else child.state
        if self.relay is None and self.children:
            return any(c.state for c in self.children)
        return self.relay
