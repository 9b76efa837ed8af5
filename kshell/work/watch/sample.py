"""One sample of ``emeter watch``: a reading (or a failed attempt) of one meter, at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any, Protocol

from kshell.device import meter_rules as emeter
from kshell.errors import KshellError
from kshell.events import Row


class Meter(Protocol):
    """What a sample copies from the meter it read (``kshell.work.watch.stats.Meter``)."""

    label: str
    name: str  # a strip outlet's own alias
    address: str
    outlet: int | None


class Sample(Row):
    """One reading (or one failed attempt) of one meter."""

    __slots__ = (
        "address",
        "error",
        "flags",
        "label",
        "name",
        "outlet",
        "reading",
        "reset",
        "round",
        "t",
    )

    def __init__(
        self,
        t: float,
        round_: int,
        meter: Meter,
        reading: emeter.Reading | None = None,
        flags: list[str] | None = None,
        reset: bool = False,
        error: KshellError | None = None,
    ) -> None:
        self.t = t
        self.round = round_
        self.label = meter.label
        self.name = meter.name  # a strip outlet's own alias
        self.address = meter.address
        self.outlet = meter.outlet
        self.reading = reading
        self.flags = flags or []
        self.reset = reset
        self.error = error

    @property
    def ok(self) -> bool:
        return self.reading is not None

    def line(self) -> str:
        stamp = datetime.fromtimestamp(self.t).strftime("%H:%M:%S")
        if self.reading is None:
            return f"{stamp}  {self.label}: offline ({self.error.message if self.error else '?'})"
        r = self.reading
        line = (
            f"{stamp}  {self.label}: {num(r.power_w, 1)} W  {num(r.voltage_v, 1)} V  "
            f"{num(r.current_a, 3)} A  {num(r.total_kwh, 3)} kWh"
        )
        if self.reset:
            line += "  (counter reset)"
        if self.flags:
            line += "  IMPLAUSIBLE: " + "; ".join(self.flags)
        return line

    def json(self) -> dict[str, Any]:
        t = round(self.t, 3)
        r = self.reading
        if r is not None:  # one dict built at once: thousands a second go through here
            flags = self.flags
            return {
                "t": t,
                "time": iso_time(t),
                "round": self.round,
                "target": self.label,
                "host": self.address,
                "outlet": self.outlet,
                "status": "ok",
                "power_w": r.power_w,
                "voltage_v": r.voltage_v,
                "current_a": r.current_a,
                "total_kwh": r.total_kwh,
                "plausible": not flags,
                "flags": flags,
                "schema": r.schema,
                "counter_reset": self.reset,
            }
        out: dict[str, Any] = {
            "t": t,
            "time": iso_time(t),
            "round": self.round,
            "target": self.label,
            "host": self.address,
            "outlet": self.outlet,
            "status": "offline",
        }
        if self.error is not None:
            out["error"] = {"kind": self.error.kind, "message": self.error.message}
        return out

    def json_text(self) -> str | None:
        """The JSON line of a reading written directly, as the stdlib encoder writes
        ``json()`` (faster than building the dict for any encoder); an offline one: None."""
        r = self.reading
        if r is None:
            return None
        flags = self.flags
        p, v, i, kwh = r.power_w, r.voltage_v, r.current_a, r.total_kwh
        return (
            f'{{{_stamp(round(self.t, 3))},"round":{self.round},'
            f"{_where(self.label, self.address, self.outlet)}"
            f'"status":"ok","power_w":{"null" if p is None else repr(p)},'
            f'"voltage_v":{"null" if v is None else repr(v)},'
            f'"current_a":{"null" if i is None else repr(i)},'
            f'"total_kwh":{"null" if kwh is None else repr(kwh)},'
            f'"plausible":{"false" if flags else "true"},'
            f'"flags":[{",".join(_text(f) for f in flags) if flags else ""}],'
            f'"schema":{_text(r.schema)},"counter_reset":{"true" if self.reset else "false"}}}'
        )


@lru_cache(maxsize=8)
def _stamp(t: float) -> str:
    """``"t":...,"time":...`` of a millisecond: the readings of one come by the dozen."""
    return f'"t":{t!r},"time":"{iso_time(t)}"'


@lru_cache(maxsize=1024)
def _where(label: str, address: str, outlet: int | None) -> str:
    """A meter's part of its lines, written once (a reading's numbers are never text)."""
    return f'"target":{_text(label)},"host":{_text(address)},"outlet":{_scalar(outlet)},'


def _text(value: str) -> str:
    return str(encode_basestring(value))


def _scalar(value: float | str | None) -> str:
    """A number as the stdlib writes it (``float.__repr__``; a reading is never NaN)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _text(value)
    return repr(value)


def iso_time(t: float) -> str:
    """UTC ISO 8601 with milliseconds; the date part is formatted once per second."""
    whole, ms = divmod(round(t * 1000), 1000)
    return f"{_whole_second(whole)}.{ms:03d}+00:00"


@lru_cache(maxsize=4)
def _whole_second(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
