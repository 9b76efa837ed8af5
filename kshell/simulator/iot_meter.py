"""The IOT firmware's answers for the energy meter and the runtime statistics: one handler
per method, ``(plug, args, context, now) -> answer``, over a ``PlugState``'s outlets."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from kshell.simulator.energy import local_day
from kshell.simulator.parts import Answer, Socket, int_arg

if TYPE_CHECKING:
    from kshell.simulator.state import PlugState

BOGUS_DAY_WH = 29_380_000.0


def _month_values(
    per_day: Callable[[date], float | int | None], year: int, month: int
) -> list[tuple[int, Any]]:
    """(day, value) for each day of the month the plug has a record of (value not None)."""
    out = []
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        value = per_day(date(year, month, day))
        if value is not None:
            out.append((day, value))
    return out


# -- emeter --------------------------------------------------------------------------
def get_realtime(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    s = plug.outlet_named(ctx)
    reading = s.meter.reading(now, bool(s.state), bogus=plug.faults.consume("bogus_power"))
    if plug.kind.is_bulb:
        return {"power_mw": int(reading.power_w * 1000), "err_code": 0}
    if plug.kind.emeter == "v1":
        return reading.as_v1()
    answer = reading.as_v2()
    if plug.kind.slot_id:  # the outlet's index, before err_code as the firmware sends it
        answer = {**answer, "slot_id": plug.sockets.index(s)}
        answer["err_code"] = answer.pop("err_code")
    return answer


def _energy_entry(plug: PlugState, wh: float) -> Answer:
    if plug.kind.emeter == "v1":
        return {"energy": round(wh / 1000, 3)}
    return {"energy_wh": round(wh)}


def _history(plug: PlugState, ctx: Any, now: float) -> tuple[Socket, date]:
    """The addressed socket, its meter brought up to now, and today's date."""
    s = plug.outlet_named(ctx)
    s.meter.advance(now, bool(s.state))
    return s, local_day(now)


def _day_wh(plug: PlugState, s: Socket, day: date, today: date) -> float | None:
    wh = s.meter.day_wh(day, today)
    if wh is not None and day == today and "bogus_energy" in plug.faults:
        return BOGUS_DAY_WH  # the firmware bug seen: a day of 29,380 kWh
    return wh


def get_daystat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    year = int_arg(args, "year", range(1970, 2100))
    month = int_arg(args, "month", range(1, 13))
    s, today = _history(plug, ctx, now)
    days = _month_values(lambda d: _day_wh(plug, s, d, today), year, month)
    return {
        "day_list": [
            {"year": year, "month": month, "day": day, **_energy_entry(plug, wh)}
            for day, wh in days
        ],
        "err_code": 0,
    }


def get_monthstat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    year = int_arg(args, "year", range(1970, 2100))
    s, today = _history(plug, ctx, now)
    months = []
    for month in range(1, 13):
        days = _month_values(lambda d: _day_wh(plug, s, d, today), year, month)
        if days:
            months.append(
                {"year": year, "month": month, **_energy_entry(plug, sum(wh for _, wh in days))}
            )
    return {"month_list": months, "err_code": 0}


def get_vgain_igain(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    s = plug.outlet_named(ctx)
    return {"vgain": s.vgain, "igain": s.igain, "err_code": 0}


def set_vgain_igain(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    s = plug.outlet_named(ctx)
    s.vgain = int_arg(args, "vgain", range(1, 1 << 20))
    s.igain = int_arg(args, "igain", range(1, 1 << 20))
    return {"err_code": 0}


def erase_emeter_stat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    targets = plug.outlets_named(ctx) or plug.sockets
    if "erase_noop" not in plug.faults:  # that firmware says 0 and erases nothing
        for s in targets:
            s.meter.erase(now)
    return {"err_code": 0}


# -- schedule: runtime statistics (its rules are in iot_tables) ---------------------------
def runtime_daystat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    year = int_arg(args, "year", range(1970, 2100))
    month = int_arg(args, "month", range(1, 13))
    s, today = _history(plug, ctx, now)
    days = _month_values(lambda d: s.meter.day_minutes(d, today), year, month)
    return {
        "day_list": [
            {"year": year, "month": month, "day": day, "time": minutes} for day, minutes in days
        ],
        "err_code": 0,
    }


def runtime_monthstat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    year = int_arg(args, "year", range(1970, 2100))
    s, today = _history(plug, ctx, now)
    months = []
    for month in range(1, 13):
        days = _month_values(lambda d: s.meter.day_minutes(d, today), year, month)
        if days:
            months.append({"year": year, "month": month, "time": sum(m for _, m in days)})
    return {"month_list": months, "err_code": 0}


def erase_runtime_stat(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"err_code": 0}


def get_next_action(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"type": -1, "err_code": 0}
