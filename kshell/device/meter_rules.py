"""Energy-meter answers made uniform, and judged: pure functions, no I/O.

Two schemas are on the wire, told apart by the keys an answer carries (never by the
model name): older firmware (HS110 hardware 1.x) says ``power``, ``voltage``,
``current``, ``total`` in W, V, A and kWh; newer devices (HS110 2.x, KP115, HS300
outlets...) say ``power_mw``, ``voltage_mv``, ``current_ma``, ``total_wh``.

Readings can be nonsense (an HS110 on firmware 1.1.1 reported over 28,000 W), so each
one is checked against the model's rating; a flagged reading is still shown, only marked.
A ``total`` that runs backwards is a counter reset (plugs restart it after a power cut),
not an implausible reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from kshell.errors import ProtocolError

VOLTAGE_MIN, VOLTAGE_MAX = 90.0, 270.0
# power factor is at most 1, so P <= V x I; meters sample P and I a moment apart, hence slack
_VA_SLACK, _VA_MARGIN_W = 1.25, 5.0


class Reading(NamedTuple):
    """One realtime answer in W, V, A, kWh; a field is None when the plug left it out.

    Immutable; a tuple rather than a frozen dataclass because a watch makes tens of thousands
    a second and a frozen dataclass's ``__init__`` costs four times as much."""

    power_w: float | None
    voltage_v: float | None
    current_a: float | None
    total_kwh: float | None
    schema: str  # "v1" (W, V, A, kWh) or "v2" (mW, mV, mA, Wh)
    raw: dict[str, Any]


def number(value: Any) -> float | None:
    # bool is an int in Python, never a reading; NaN and infinities are garbage too
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # subclasses
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def normalise(answer: dict[str, Any]) -> Reading:
    """A ``get_realtime`` answer -> Reading; ProtocolError if it holds no reading at all."""
    get = answer.get
    if (
        "power_mw" in answer
        or "voltage_mv" in answer
        or "current_ma" in answer
        or "total_wh" in answer
    ):
        reading = Reading(
            _milli(get("power_mw")),
            _milli(get("voltage_mv")),
            _milli(get("current_ma")),
            _milli(get("total_wh")),
            "v2",
            answer,
        )
    else:
        reading = Reading(
            number(get("power")),
            number(get("voltage")),
            number(get("current")),
            number(get("total")),
            "v1",
            answer,
        )
    if reading.power_w is None:
        keys = ", ".join(sorted(k for k in answer if k != "err_code")[:8]) or "none"
        raise ProtocolError(f"realtime answer carries no power reading (keys: {keys})")
    return reading


def _milli(value: Any) -> float | None:
    """mW, mV, mA as the plug sent them -> W, V, A; and Wh -> kWh, the same factor."""
    if type(value) is int:  # what the plugs send: checked as number would, in one step
        return float(value) / 1000
    amount = number(value)
    return None if amount is None else amount / 1000


@dataclass(frozen=True, slots=True)
class Rating:
    """What a model's relay is built for: a plausible reading stays within it."""

    watts: float
    amps: float
    region: str


# by the region in the model name, "HS110(EU)"; the figures for EU/UK and US
_RATINGS = {
    "EU": (3680.0, 16.0),
    "UK": (3680.0, 16.0),
    "US": (1875.0, 15.0),
    "CA": (1875.0, 15.0),
    "MX": (1875.0, 15.0),
    "JP": (1500.0, 15.0),
    "AU": (2400.0, 10.0),
    "NZ": (2400.0, 10.0),
}
_UNKNOWN_REGION = (3680.0, 16.0)  # the most generous known rating: never flag a real reading


def region_of(model: str) -> str:
    """'HS110(EU)' -> 'EU'; '' when the model name carries no region."""
    start, end = model.find("("), model.find(")")
    return model[start + 1 : end].upper() if 0 <= start < end else ""


def rating_for(model: str) -> Rating:
    region = region_of(model)
    watts, amps = _RATINGS.get(region, _UNKNOWN_REGION)
    return Rating(watts, amps, region or "?")


def check(reading: Reading, rating: Rating) -> list[str]:
    """Why a reading is implausible: an empty list means it is plausible."""
    p, v, i, total = reading.power_w, reading.voltage_v, reading.current_a, reading.total_kwh
    if (  # the everyday reading, in one test: everything below would find nothing
        p is not None
        and v is not None
        and i is not None
        and total is not None
        and 0 <= p <= rating.watts
        and 0 <= i <= rating.amps
        and VOLTAGE_MIN <= v <= VOLTAGE_MAX
        and total >= 0
        and p <= v * i * _VA_SLACK + _VA_MARGIN_W
    ):
        return []
    flags: list[str] = []
    for name, value, unit in (
        ("power", p, "W"),
        ("voltage", v, "V"),
        ("current", i, "A"),
        ("total", total, "kWh"),
    ):
        if value is not None and value < 0:
            flags.append(f"negative {name} ({_fmt(value)} {unit})")
    if p is not None and p > rating.watts:
        flags.append(f"power {_fmt(p)} W above the {_fmt(rating.watts)} W rating")
    if i is not None and i > rating.amps:
        flags.append(f"current {_fmt(i)} A above the {_fmt(rating.amps)} A rating")
    if v is not None and v >= 0 and not VOLTAGE_MIN <= v <= VOLTAGE_MAX:
        flags.append(f"voltage {_fmt(v)} V outside {VOLTAGE_MIN:g}-{VOLTAGE_MAX:g} V")
    if p is None or v is None or i is None:
        return flags
    if v > 0 and i >= 0 and p > v * i * _VA_SLACK + _VA_MARGIN_W:
        flags.append(f"power {_fmt(p)} W exceeds volts x amps ({_fmt(v * i)} VA)")
    return flags


def counter_reset(previous_kwh: float | None, total_kwh: float | None) -> bool:
    """Did the running ``total`` go backwards (a restart after a power cut, or an erase)?"""
    if previous_kwh is None or total_kwh is None:
        return False
    return total_kwh < previous_kwh - 1e-6


def _fmt(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def reading_json(reading: Reading, flags: list[str]) -> dict[str, Any]:
    """The JSON fields of a reading, as ``emeter`` and ``emeter watch`` print them.

    No rounding is needed: new-schema values are integers over 1000 (exact in decimal),
    old-schema values are what the plug said.
    """
    return {
        "power_w": reading.power_w,
        "voltage_v": reading.voltage_v,
        "current_a": reading.current_a,
        "total_kwh": reading.total_kwh,
        "plausible": not flags,
        "flags": flags,
        "schema": reading.schema,
    }


# -- statistics (get_daystat / get_monthstat) ---------------------------------------------
def energy_entries(answer: dict[str, Any], list_key: str) -> list[tuple[dict[str, int], float]]:
    """``day_list`` / ``month_list`` entries -> (their year/month/day ints, kWh).

    Old firmware says ``energy`` in kWh, new firmware ``energy_wh`` in Wh; entries that
    carry neither (or odd types) are skipped rather than trusted.
    """
    raw = answer.get(list_key)
    if not isinstance(raw, list):
        raise ProtocolError(f"statistics answer lacks '{list_key}'")
    out: list[tuple[dict[str, int], float]] = []
    for entry in raw[:400]:
        if not isinstance(entry, dict):
            continue
        when = {
            k: entry[k]
            for k in ("year", "month", "day")
            if isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool)
        }
        wh = number(entry.get("energy_wh"))
        kwh = number(entry.get("energy")) if wh is None else wh / 1000
        if kwh is not None and "year" in when:
            out.append((when, kwh))
    return out
