"""Reading one plug for the exporter: the one place that knows the device layer's API.

Everything above this module sees ``PlugReading`` only, so a change in how devices are read
(a new device layer, another protocol family) is a change here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from kshell import emeter
from kshell.cache import normalise_mac
from kshell.context import Context
from kshell.output import clean
from kshell.targets import Target

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


async def read_plug(ctx: Context, target: Target) -> PlugReading:
    """Read the plug's state and every meter it has (each outlet of a strip), in turn.

    Today's IOT ``Device``; raises KshellError when the plug does not answer.
    """
    from kshell import device as dev
    from kshell.device import Device
    from kshell.watch import ask_meter

    device = target.device(ctx)
    info = await device.update()
    model = dev.model(info)
    rating = emeter.rating_for(model)
    metered = dev.has_emeter(info)

    async def meter(child_id: str | None) -> tuple[emeter.Reading | None, bool]:
        if not metered:
            return None, False
        outlet = Device(device.conn, child_id, device.label) if child_id else device
        reading = emeter.normalise(await ask_meter(outlet, "get_realtime", idempotent=True))
        return reading, bool(emeter.check(reading, rating))

    relays = []
    kids = dev.children(info)
    for child in kids:
        reading, implausible = await meter(child["id"])
        relays.append(
            RelayReading(
                child["number"],
                clean(child["alias"], LABEL_LIMIT),
                child["state"],
                _int(child["on_time"]),
                reading,
                implausible,
            )
        )
    alias = clean(dev.text(info, "alias") or target.label, LABEL_LIMIT)
    if not kids:
        reading, implausible = await meter(None)
        relays.append(
            RelayReading(
                None, alias, dev.relay_state(info), _int(info.get("on_time")), reading, implausible
            )
        )
    return PlugReading(
        alias=alias,
        model=clean(model, LABEL_LIMIT),
        mac=normalise_mac(dev.text(info, "mac") or dev.text(info, "mic_mac") or ""),
        family="iot",
        rssi_dbm=_int(info.get("rssi")),
        relays=tuple(relays),
    )
