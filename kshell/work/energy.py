"""Energy statistics (per day, per month): read from a plug, judged and laid out.

A day can hold at most what the plug's relay is rated for, running all day: a record above
that (firmware has reported 29,380 kWh for one day) is shown, and flagged, never dropped.
A strip's statistics are one column per outlet, named, and the strip's sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kshell.core.target import Target
from kshell.device import meter_rules as emeter
from kshell.device.device import Device
from kshell.device.meter_rules import Rating
from kshell.device.state import Info
from kshell.results import Chart, Result, Table


@dataclass
class Series:
    """One meter's records: an outlet (number and name) or a whole plug (number None)."""

    label: str
    values: dict[int, float]  # day (or month) -> kWh
    number: int | None = None
    name: str = ""


def limit_kwh(rating: Rating, hours: float) -> float:
    """The most a plug of this rating can use in ``hours``."""
    return rating.watts * hours / 1000


def flags(series: Series, limit: float, unit_name: str, labels: dict[int, str]) -> list[str]:
    """Why records are implausible: above ``limit`` or negative."""
    out = []
    for key, kwh in sorted(series.values.items()):
        where = f"{series.label} {labels.get(key, key)}"
        if kwh < 0:
            out.append(f"{where}: negative energy ({kwh:,.3f} kWh)")
        elif kwh > limit:
            out.append(
                f"{where}: {kwh:,.3f} kWh is more than the {limit:,.1f} kWh the plug's rating "
                f"allows in a {unit_name}"
            )
    return out


def strip_table(
    series: list[Series], labels: dict[int, str], key_name: str
) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """Headers, rows (one per day or month, then the totals) and the JSON of a strip."""
    keys = sorted({k for s in series for k in s.values})
    headers = [key_name] + [f"{s.number} {s.name}".strip() for s in series] + ["strip"]
    rows: list[list[Any]] = []
    for key in keys:
        cells = [s.values.get(key) for s in series]
        total = sum(v for v in cells if v is not None)
        rows.append([labels.get(key, str(key)), *(_kwh(v) for v in cells), _kwh(total)])
    totals = [sum(s.values.values()) for s in series]
    rows.append(["total", *(_kwh(t) for t in totals), _kwh(sum(totals))])
    data = {
        "outlets": [
            {
                "outlet": s.number,
                "alias": s.name,
                f"{key_name}s": [
                    {key_name: k, "energy_kwh": round(v, 4)} for k, v in sorted(s.values.items())
                ],
                "total_kwh": round(t, 4),
            }
            for s, t in zip(series, totals)
        ],
        f"{key_name}s": [
            {key_name: k, "energy_kwh": round(sum(s.values.get(k, 0.0) for s in series), 4)}
            for k in keys
        ],
        "total_kwh": round(sum(totals), 4),
    }
    return headers, rows, data


def _kwh(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f}"


async def series(
    target: Target, device: Device, year: int, month: int | None = None
) -> list[Series]:
    """Per day of ``month`` (or per month of ``year`` when it is None): the statistics of a
    plug, an outlet, or each outlet of a whole strip (named)."""
    kids = device.state.children
    names = {c.id: (c.number, c.alias) for c in kids}
    parts: list[tuple[Target, int | None, str]]
    if names and target.child_id is None:
        parts = [
            (Target(target.host, target.port, target.record, c.id, c.number), c.number, c.alias)
            for c in kids
        ]
    else:
        number, name = names.get(target.child_id or "", (None, ""))
        parts = [(target, number, name)]
    series = []
    for part, number, name in parts:
        if month is None:
            entries = await device.meter.months(year, part.child_id)
            values = {e.month: round(e.kwh, 4) for e in entries}
        else:
            entries = await device.meter.days(year, month, part.child_id)
            values = {e.day: round(e.kwh, 4) for e in entries}
        series.append(Series(part.label, values, number, name))
    return series


def judged(
    target: Target,
    info: Info,
    series: list[Series],
    *,
    key: str,
    labels: dict[int, str],
    hours: float,
    title: str,
    extra: dict[str, Any],
) -> Result:
    """A chart for one meter, a table of outlets for a strip; implausible records flagged."""
    rating = emeter.rating_for(info.model)
    limit = limit_kwh(rating, hours)
    found = [f for one in series for f in flags(one, limit, key, labels)]
    if not any(one.values for one in series):
        title += f" (the plug holds no record for this {'month' if key == 'day' else 'year'})"
    base = {"target": target.label, "host": target.address, **extra}
    verdict = {"plausible": not found, "flags": found, "limit_kwh": round(limit, 3)}
    if len(series) > 1 or target.child_id is None and info.children:
        headers, rows, data = strip_table(series, labels, key)
        footer = "\n".join(f"IMPLAUSIBLE: {f}" for f in found) or None
        return Table(headers, rows, {**base, **data, **verdict}, title=title, footer=footer)
    one = series[0]
    keys = sorted(one.values)
    bad = {k for k in keys if one.values[k] < 0 or one.values[k] > limit}
    if bad:  # the title is short on purpose: the JSON's flags say it all
        title += (
            f"\nIMPLAUSIBLE (marked !): {len(bad)} {key}(s) above {limit:,.1f} kWh, the most "
            f"a {rating.watts:,.0f} W plug can use in a {key}, or below zero"
        )
    data = {
        **base,
        f"{key}s": [{key: k, "energy_kwh": one.values[k], "plausible": k not in bad} for k in keys],
        "total_kwh": round(sum(one.values.values()), 4),
        **verdict,
    }
    shown = [labels[k] + (" !" if k in bad else "") for k in keys]
    return Chart(title, shown, [one.values[k] for k in keys], "kWh", data)
