"""The energy meter: realtime W, V, A, energy per day and month, erasing the statistics.

IOT: the ``emeter`` module (``smartlife.iot.common.emeter`` on some models, asked once).
SMART: watts by the best method the plug answers, energy by ``get_energy_data`` in the
plug's own days. A strip's outlets each have their own meter.
"""

from __future__ import annotations

import abc
import calendar
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kshell.device import meter_rules
from kshell.device import sysinfo as si
from kshell.device.capabilities.declaration import Capability, Known
from kshell.device.codec import parse_payload
from kshell.device.readings import Energy
from kshell.errors import DeviceError, ProtocolError, UnsupportedDevice

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol

METER_MODULES = ("emeter", "smartlife.iot.common.emeter")  # plugs and strips; bulbs
_NOT_SUPPORTED = (-1, -2)  # "module not support", "member not support"
# watts, best method first: mW with V and A; mW alone; whole watts (a low-precision fallback)
POWER_METHODS = ("get_emeter_data", "get_energy_usage", "get_current_power")
DAILY, MONTHLY = 1440, 43200  # get_energy_data intervals, in minutes


class MeterModule(abc.ABC):
    @abc.abstractmethod
    async def read(self, child: str | None = None) -> meter_rules.Reading:
        """One realtime reading in W, V, A (and kWh where the plug keeps a total)."""

    async def read_while(
        self, on_reading: Callable[[meter_rules.Reading], bool], child: str | None = None
    ) -> bool:
        """Realtime readings one after the other, each handed to ``on_reading`` (called in
        the event loop's callback: it must not wait), for as long as it says True, where the
        family's link can repeat a read without resuming a coroutine per answer. False:
        nothing was read this way (use ``read``)."""
        return False

    @abc.abstractmethod
    async def days(self, year: int, month: int, child: str | None = None) -> list[Energy]:
        """Energy per day of a month, as far as the plug keeps it."""

    @abc.abstractmethod
    async def months(self, year: int, child: str | None = None) -> list[Energy]:
        """Energy per month of a year, as far as the plug keeps it."""

    @abc.abstractmethod
    async def erase(self, child: str | None = None) -> None:
        """Erase the statistics (callers read back: some firmware erases nothing)."""

    def cannot_erase(self) -> str | None:
        """Why this family's statistics cannot be erased, known before anything is asked
        (a command refuses before its question), or None."""
        return None


class IotMeter(MeterModule):
    """``emeter`` on plugs and strips; some models name it differently (asked once)."""

    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto
        self.module = METER_MODULES[0]

    async def _ask(
        self, method: str, params: dict[str, Any] | None, child: str | None, idempotent: bool
    ) -> dict[str, Any]:
        try:
            return await self.proto.query(
                self.module, method, params, child_id=child, idempotent=idempotent
            )
        except DeviceError as exc:
            if exc.code not in _NOT_SUPPORTED or self.module != METER_MODULES[0]:
                raise
            self.module = METER_MODULES[1]
            return await self.proto.query(
                self.module, method, params, child_id=child, idempotent=idempotent
            )

    async def read(self, child: str | None = None) -> meter_rules.Reading:
        try:  # ``_ask`` spelled out: a watch reads this all day, one frame fewer each time
            answer = await self.proto.query(
                self.module, "get_realtime", child_id=child, idempotent=True
            )
        except DeviceError as exc:
            if exc.code not in _NOT_SUPPORTED or self.module != METER_MODULES[0]:
                raise
            self.module = METER_MODULES[1]
            answer = await self.proto.query(
                self.module, "get_realtime", child_id=child, idempotent=True
            )
        return meter_rules.normalise(answer)

    async def read_while(
        self, on_reading: Callable[[meter_rules.Reading], bool], child: str | None = None
    ) -> bool:
        """``read`` repeated over the plug's kept link (a watch's steady state). A plug that
        says it lacks the usual module is left to ``read``, which knows the other name."""
        module = self.module
        proto = self.proto

        def on_answer(plain: bytes) -> bool:
            answer = si.check_answer(parse_payload(plain), module, "get_realtime", None)
            return on_reading(meter_rules.normalise(answer))

        try:
            return await proto.transport.repeat(proto.realtime_request(module, child), on_answer)
        except DeviceError as exc:
            if exc.code in _NOT_SUPPORTED and module == METER_MODULES[0]:
                return False
            exc.target = proto.label
            raise
        except ProtocolError as exc:
            exc.target = exc.target or proto.label
            raise

    async def days(self, year: int, month: int, child: str | None = None) -> list[Energy]:
        answer = await self._ask("get_daystat", {"year": year, "month": month}, child, True)
        return [
            Energy(year, month, when.get("day", 0), kwh)
            for when, kwh in meter_rules.energy_entries(answer, "day_list")
            if when.get("year") == year and when.get("month") == month
        ]

    async def months(self, year: int, child: str | None = None) -> list[Energy]:
        answer = await self._ask("get_monthstat", {"year": year}, child, True)
        return [
            Energy(year, when.get("month", 0), 0, kwh)
            for when, kwh in meter_rules.energy_entries(answer, "month_list")
            if when.get("year") == year and 1 <= when.get("month", 0) <= 12
        ]

    async def erase(self, child: str | None = None) -> None:
        await self._ask("erase_emeter_stat", None, child, False)


class SmartMeter(MeterModule):
    """Watts by the best method the plug answers (remembered), in the shared units."""

    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto
        self.learnt = proto.learnt  # the plug's UTC offset, once read, is kept there
        self.method = POWER_METHODS[0]

    async def read(self, child: str | None = None) -> meter_rules.Reading:
        while True:
            try:
                answer = await self.proto.call(self.method, child_id=child, idempotent=True)
            except DeviceError as exc:  # SmartError, imported only with a SMART plug
                later = POWER_METHODS.index(self.method) + 1
                if exc.code not in (-1, -1002) or later >= len(POWER_METHODS):
                    raise
                self.method = POWER_METHODS[later]  # this firmware lacks it: the next best
                continue
            return reading_of(self.method, answer)

    async def _energy(
        self, start: int, end: int, interval: int, child: str | None
    ) -> list[float | None]:
        params = {"start_timestamp": start, "end_timestamp": end, "interval": interval}
        try:
            answer = await self.proto.call(
                "get_energy_data", params, child_id=child, idempotent=True
            )
        except DeviceError as exc:  # SmartError, imported only with a SMART plug
            if exc.code in (-1, -1002):
                raise UnsupportedDevice(
                    f"the plug keeps no energy statistics (get_energy_data: error {exc.code})",
                    target=self.proto.label,
                ) from None
            raise
        data = answer.get("data")
        if not isinstance(data, list):
            raise ProtocolError("get_energy_data answer lacks 'data'", target=self.proto.label)
        return [meter_rules.number(v) for v in data[:400]]

    async def _midnight(self, year: int, month: int) -> int:
        """The first of the month at midnight, as the plug keeps its days (its own zone)."""
        if self.learnt.time_diff is None:
            answer = await self.proto.call("get_device_time", idempotent=True)
            diff = answer.get("time_diff")
            self.learnt.time_diff = diff if isinstance(diff, int) and abs(diff) <= 1440 else 0
        return calendar.timegm((year, month, 1, 0, 0, 0)) - self.learnt.time_diff * 60

    async def days(self, year: int, month: int, child: str | None = None) -> list[Energy]:
        last = calendar.monthrange(year, month)[1]
        start = await self._midnight(year, month)
        values = await self._energy(start, start + last * 86400 - 1, DAILY, child)
        return [
            Energy(year, month, day, wh / 1000)
            for day, wh in enumerate(values[:last], start=1)
            if wh is not None and wh > 0
        ]

    async def months(self, year: int, child: str | None = None) -> list[Energy]:
        start = await self._midnight(year, 1)
        end = await self._midnight(year + 1, 1) - 1
        values = await self._energy(start, end, MONTHLY, child)
        return [
            Energy(year, m, 0, wh / 1000)
            for m, wh in enumerate(values[:12], start=1)
            if wh is not None and wh > 0
        ]

    async def erase(self, child: str | None = None) -> None:
        raise UnsupportedDevice(self.cannot_erase() or "", target=self.proto.label)

    def cannot_erase(self) -> str | None:
        return (
            "current-generation plugs keep their energy statistics on the vendor's side: "
            "kshell cannot erase them"
        )


def reading_of(method: str, answer: dict[str, Any]) -> meter_rules.Reading:
    """A SMART energy answer in W, V, A (kWh: the plug's lifetime total, where it gives one)."""
    n = meter_rules.number
    if method == "get_emeter_data":
        mw, mv, ma, wh = (
            n(answer.get(k)) for k in ("power_mw", "voltage_mv", "current_ma", "energy_wh")
        )
        power = None if mw is None else mw / 1000
        volts = None if mv is None else mv / 1000
        amps = None if ma is None else ma / 1000
        total = None if wh is None else wh / 1000
    elif method == "get_energy_usage":
        mw = n(answer.get("current_power"))
        power, volts, amps, total = (None if mw is None else mw / 1000), None, None, None
    else:
        power, volts, amps, total = n(answer.get("current_power")), None, None, None
    if power is None:
        keys = ", ".join(sorted(answer)[:8]) or "none"
        raise ProtocolError(f"{method} answer carries no power reading (keys: {keys})")
    return meter_rules.Reading(power, volts, amps, total, "smart", answer)


def _has_meter(plug: Known) -> bool:
    return plug.emeter


CAPABILITY: Capability[MeterModule] = Capability(
    "meter",
    iot=IotMeter,
    smart=SmartMeter,
    lacking="an energy meter",
    known=_has_meter,
    outlets=True,
)
