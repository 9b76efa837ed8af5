"""Reading one plug for the exporter: the one place that knows the device layer's API.

Everything above this module sees ``PlugReading`` only, so a change in how devices are read
is a change here and nowhere else. Every family (IOT on XOR or KLAP, SMART on KLAP or AES)
reads the same way: ``Device.update`` and the ``meter`` capability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.device import meter_rules as emeter
from kshell.store.devices import normalise_mac
from kshell.text import clean

if TYPE_CHECKING:
    from kshell.device.device import Device

LABEL_LIMIT = 120  # an alias as a label value: one line, bounded


@dataclass(frozen=True, slots=True)
class RelayReading:
    """One relay and its meter: a plug, or one outlet of a strip (``outlet`` from 1)."""

    outlet: int | None
    alias: str
    relay_on: bool | None
    on_time_s: float | None
    reading: emeter.Reading | None  # None: no meter
    implausible: bool


@dataclass(frozen=True, slots=True)
class PlugReading:
    """What one poll of a plug found."""

    alias: str
    model: str
    mac: str
    family: str
    rssi_dbm: float | None
    relays: tuple[RelayReading, ...]


def _int(value: object) -> float | None:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else None


async def read_plug(session: Session, target: Target) -> PlugReading:
    """Read the plug's state and every meter it has (each outlet of a strip), in turn.

    Through the device layer's capability modules, the same for every protocol family;
    raises KshellError when the plug does not answer. A target the store does not hold (a
    probe into ``[metrics] probe_networks``) is read over XOR only, on a device of its own
    closed afterwards: never a handshake, never the owner's login, whatever it announces.
    """
    if target.record is None:
        from kshell.device.pool import XOR, make_device

        device = make_device(target.host, target.port, XOR, session.timeout, lambda: None)
        try:
            return await _read(device, target)
        finally:
            device.close()
    from kshell.core.targets import learn_link

    await learn_link(session, target)  # a plug on the HTTP port: its announcement, once a session
    return await _read(target.device(session), target)


async def _read(device: Device, target: Target) -> PlugReading:
    info = await device.update()
    rating = emeter.rating_for(info.model)

    async def meter(child_id: str | None) -> tuple[emeter.Reading | None, bool]:
        if not info.has_meter:
            return None, False
        reading = await device.meter.read(child_id)
        return reading, bool(emeter.check(reading, rating))

    relays = []
    for child in info.children:
        reading, implausible = await meter(child.id)
        relays.append(
            RelayReading(
                child.number,
                clean(child.alias, LABEL_LIMIT),
                child.state,
                _int(child.on_time),
                reading,
                implausible,
            )
        )
    alias = clean(info.alias or target.label, LABEL_LIMIT)
    if not info.children:
        reading, implausible = await meter(None)
        relays.append(
            RelayReading(None, alias, info.relay, _int(info.on_time), reading, implausible)
        )
    return PlugReading(
        alias=alias,
        model=clean(info.model, LABEL_LIMIT),
        mac=normalise_mac(info.mac),
        family=clean(info.family, 20),
        rssi_dbm=_int(info.raw.get("rssi")),
        relays=tuple(relays),
    )
