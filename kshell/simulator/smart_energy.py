"""The energy and usage methods of a SMART plug, from the simulator's own meters.

Units (docs/protocols.md, "Energy readings"; python-kasa ``kasa/smart/modules/energy.py``):
``get_energy_usage`` gives ``current_power`` in mW, ``today_energy``/``month_energy`` in Wh and
runtimes in minutes; ``get_current_power`` whole watts; ``get_emeter_data`` mW, mV, mA and Wh
(only on firmware recorded with it); ``get_device_usage`` minutes (and Wh on meters).
``get_energy_data`` gives the history in Wh per hour (interval 60), day (1440) or month
(43200), as tapo-rs reads it (python-kasa does not). Also the SMART error codes they raise.
"""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kshell.simulator.energy import Reading, local_day

if TYPE_CHECKING:
    from kshell.simulator.parts import Socket
    from kshell.simulator.smart_models import SmartModel
    from kshell.simulator.state import PlugState

UNKNOWN_METHOD = -1002
JSON_FORMAT = -1003
INVALID_PARAMS = -1008
Result = dict[str, Any]


class SmartError(Exception):
    """Raised by a method: the request's ``error_code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _int(params: Result, key: str) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SmartError(INVALID_PARAMS)
    return value


def _month_start(day: date, months_later: int) -> date:
    """The first day of the month ``months_later`` months after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def _span(first: date, stop: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((stop - first).days)]


class EnergyMethods:
    """Mixed into ``SmartApi``: energy and usage answers for the plug or one outlet."""

    plug: PlugState
    model: SmartModel
    zone: zoneinfo.ZoneInfo

    def _now(self) -> float:
        return self.plug.clock()

    def _meter_socket(self, child: Socket | None) -> Socket:
        return child if child is not None else self.plug.main

    def _reading(self, s: Socket, now: float) -> Reading:
        return s.meter.reading(now, bool(s.state), bogus=self.plug.faults.consume("bogus_power"))

    def _days(self, s: Socket, days: list[date], today: date, minutes: bool = False) -> int:
        total = 0.0
        for d in days:
            value = s.meter.day_minutes(d, today) if minutes else s.meter.day_wh(d, today)
            total += value or 0
        return round(total)

    def _month(self, today: date) -> list[date]:
        return [today.replace(day=d) for d in range(1, today.day + 1)]

    @staticmethod
    def _last(today: date, n: int) -> list[date]:
        return [today - timedelta(days=i) for i in range(n)]

    def get_energy_usage(self, params: Result, child: Socket | None) -> Result:
        now = self._now()
        s = self._meter_socket(child)
        reading = self._reading(s, now)
        today = local_day(now)
        return {
            "current_power": int(reading.power_w * 1000),
            "electricity_charge": [0, 0, 0],
            "local_time": datetime.fromtimestamp(now, self.zone).strftime("%Y-%m-%d %H:%M:%S"),
            "month_energy": self._days(s, self._month(today), today),
            "month_runtime": self._days(s, self._month(today), today, minutes=True),
            "today_energy": self._days(s, [today], today),
            "today_runtime": self._days(s, [today], today, minutes=True),
        }

    def get_current_power(self, params: Result, child: Socket | None) -> Result:
        reading = self._reading(self._meter_socket(child), self._now())
        return {"current_power": round(reading.power_w)}

    def get_emeter_data(self, params: Result, child: Socket | None) -> Result:
        if not self.model.emeter_data:
            raise SmartError(UNKNOWN_METHOD)
        now = self._now()
        s = self._meter_socket(child)
        reading = self._reading(s, now)
        today = local_day(now)
        return {
            "current_ma": int(reading.current_a * 1000),
            "energy_wh": self._days(s, self._month(today), today),
            "power_mw": int(reading.power_w * 1000),
            "voltage_mv": int(reading.voltage_v * 1000),
        }

    def get_emeter_vgain_igain(self, params: Result, child: Socket | None) -> Result:
        s = self._meter_socket(child)
        return {"igain": s.igain, "vgain": s.vgain}

    def get_energy_data(self, params: Result, child: Socket | None) -> Result:
        """Wh per hour (interval 60, start to end, at most 8 days), per day of the quarter
        that begins at start (1440) or per month of the year that begins at start (43200).

        Request shape as tapo-rs sends it (``tapo/src/requests/get_energy_data.rs``: seconds,
        ``end == start`` for days and months); the plug keeps days, so an hour gets an even
        share of its day (hours still to come get 0).
        """
        start, end, interval = (
            _int(params, k) for k in ("start_timestamp", "end_timestamp", "interval")
        )
        if interval not in (60, 1440, 43200) or not 0 <= start <= end:
            raise SmartError(INVALID_PARAMS)
        if interval == 60 and end - start > 8 * 86400 + 86399:
            raise SmartError(INVALID_PARAMS)
        now = self._now()
        s = self._meter_socket(child)
        s.meter.advance(now, bool(s.state))
        today = local_day(now)
        first = local_day(start)
        if interval == 60:
            hours = range(start - start % 3600, end + 1, 3600)
            data = [
                0 if h > now else round((s.meter.day_wh(local_day(h), today) or 0) / 24)
                for h in hours
            ]
        elif interval == 1440:  # the days up to the end of the quarter
            end_month = _month_start(first, 3 - (first.month - 1) % 3)
            data = [self._days(s, [d], today) for d in _span(first, end_month)]
        else:  # twelve months
            months = [_month_start(first, i) for i in range(13)]
            data = [self._days(s, _span(a, b), today) for a, b in itertools.pairwise(months)]
        return {
            "data": data,
            "end_timestamp": end,
            "interval": interval,
            "local_time": datetime.fromtimestamp(now, self.zone).strftime("%Y-%m-%d %H:%M:%S"),
            "start_timestamp": start,
        }

    def get_device_usage(self, params: Result, child: Socket | None) -> Result:
        now = self._now()
        s = self._meter_socket(child)
        s.meter.advance(now, bool(s.state))
        today = local_day(now)
        spans = {"today": [today], "past7": self._last(today, 7), "past30": self._last(today, 30)}
        usage: Result = {
            "time_usage": {k: self._days(s, v, today, minutes=True) for k, v in spans.items()}
        }
        if child is None and self.model.has("energy_monitoring"):
            usage["power_usage"] = {k: self._days(s, v, today) for k, v in spans.items()}
            idle_w = s.meter.profile.mean_w
            usage["saved_power"] = {
                k: max(0, round(idle_w * (len(v) * 1440 - usage["time_usage"][k]) / 60))
                for k, v in spans.items()
            }
        return usage
