"""The plug's clock and zone, and setting them: one interface, both families.

The drift is the plug's idea of *now* minus this machine's, both in UTC, so a zone
difference is never mistaken for drift. IOT plugs keep local time fields and a zone index
(``iot_zones``); SMART plugs keep a UTC timestamp, minutes east of UTC and a zone name.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kshell.device.capabilities import iot_zones
from kshell.device.capabilities.declaration import Capability
from kshell.device.sysinfo import check_answer
from kshell.errors import DeviceError, UnsupportedDevice

if TYPE_CHECKING:
    import zoneinfo

    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol

DRIFT_FLAG_S = 60  # more than this is worth saying: schedules and daily statistics depend on it
_TIME_MODULES = ("time", "smartlife.iot.common.timesetting")


@dataclass(frozen=True, slots=True)
class PlugTime:
    """One reading of the plug's clock, with this machine's time at the moment of reading."""

    local: str  # "YYYY-MM-DD HH:MM:SS" as the plug keeps it, "?" when unreadable
    zone: str | None  # IANA name, when the plug's zone is known
    utc_offset_min: int | None
    drift_s: float | None  # plug minus this machine, in UTC; None when it cannot be told

    @property
    def drifting(self) -> bool:
        return self.drift_s is not None and abs(self.drift_s) > DRIFT_FLAG_S

    def as_dict(self) -> dict[str, Any]:
        return {
            "local": self.local,
            "zone": self.zone,
            "utc_offset_min": self.utc_offset_min,
            "drift_s": None if self.drift_s is None else round(self.drift_s, 1),
            "drifting": self.drifting,
        }


def local_zone() -> str:
    """This machine's IANA zone name ($TZ, /etc/localtime or /etc/timezone); UTC otherwise."""
    named = os.environ.get("TZ", "").lstrip(":")
    if named and "/" in named or named == "UTC":
        return named
    link = Path("/etc/localtime")
    if link.is_symlink() and "zoneinfo/" in str(link.resolve()):
        return str(link.resolve()).split("zoneinfo/", 1)[1]
    try:
        return Path("/etc/timezone").read_text()[:64].strip() or "UTC"
    except OSError:
        return "UTC"


def check_zone(name: str) -> zoneinfo.ZoneInfo:
    import zoneinfo  # only when a zone is named: a one-shot read never pays for it

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UnsupportedDevice(f"unknown time zone {name[:40]!r} (an IANA name)") from None


class TimeModule(abc.ABC):
    @abc.abstractmethod
    async def read(self) -> PlugTime:
        """The plug's clock, zone and drift from this machine."""

    @abc.abstractmethod
    async def sync(self, zone: str) -> None:
        """Set the plug's clock to this machine's time, in ``zone`` (an IANA name)."""


class IotTime(TimeModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto
        self.module = _TIME_MODULES[0]

    async def _ask(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await self.proto.query(self.module, method, params, idempotent=not params)
        except DeviceError as exc:
            self._other_name(exc)
            return await self.proto.query(self.module, method, params, idempotent=not params)

    def _other_name(self, exc: DeviceError) -> None:
        """A plug without the ``time`` module may name it the bulbs' way (asked once)."""
        if exc.code not in (-1, -2) or self.module != _TIME_MODULES[0]:
            if exc.code in (-1, -2):
                raise UnsupportedDevice("the plug keeps no clock", target=self.proto.label)
            raise exc
        self.module = _TIME_MODULES[1]

    async def _clock_and_zone(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``get_time`` and ``get_timezone`` in one request: one module, two methods (a
        plug that lacks the module fails both alike, so nothing is lost by asking both)."""
        for attempt in range(2):
            answer = await self.proto.raw(
                {self.module: {"get_time": {}, "get_timezone": {}}}, idempotent=True
            )
            try:
                label = self.proto.label
                return (
                    check_answer(answer, self.module, "get_time", label),
                    check_answer(answer, self.module, "get_timezone", label),
                )
            except DeviceError as exc:
                if attempt:
                    raise
                self._other_name(exc)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def read(self) -> PlugTime:
        fields, zone_answer = await self._clock_and_zone()
        index = _int_or_none(zone_answer.get("index"))
        now = time.time()
        parts = [
            _int_or_none(fields.get(k)) for k in ("year", "month", "mday", "hour", "min", "sec")
        ]
        zone = iot_zones.zone_of(index) if index is not None else None
        name = shown_zone(zone.key) if zone is not None else None
        numbers = [p for p in parts if p is not None]
        if len(numbers) != 6:
            return PlugTime("?", name, None, None)
        try:
            year, month, day, hour, minute, second = numbers
            naive = dt.datetime(year, month, day, hour, minute, second)
        except ValueError:
            return PlugTime("?", name, None, None)
        local = naive.strftime("%Y-%m-%d %H:%M:%S")
        if zone is None:  # an index we cannot place: the plug's UTC is unknown
            return PlugTime(local, None, None, None)
        aware = naive.replace(tzinfo=zone)
        offset = aware.utcoffset() or dt.timedelta()
        return PlugTime(local, name, int(offset.total_seconds() // 60), aware.timestamp() - now)

    async def sync(self, zone: str) -> None:
        check_zone(zone)
        index = iot_zones.index_of(zone)
        if index is None:
            raise UnsupportedDevice(
                f"the plug's zone table has nothing that keeps {zone}'s offsets",
                target=self.proto.label,
            )
        now = dt.datetime.now(iot_zones.zone_of(index))
        fields = {
            "year": now.year,
            "month": now.month,
            "mday": now.day,
            "hour": now.hour,
            "min": now.minute,
            "sec": now.second,
        }
        await self._ask("set_timezone", {**fields, "index": index})


class SmartTime(TimeModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def read(self) -> PlugTime:
        answer = await self.proto.call("get_device_time", idempotent=True)
        return smart_time_of(answer, time.time())

    async def sync(self, zone: str) -> None:
        place = check_zone(zone)
        now = dt.datetime.now(place)
        offset = now.utcoffset() or dt.timedelta()
        params = {
            "timestamp": int(now.timestamp()),
            "time_diff": int(offset.total_seconds() // 60),
            "region": zone,
        }
        await self.proto.call("set_device_time", params)


def smart_time_of(answer: dict[str, Any], now: float) -> PlugTime:
    """A SMART ``get_device_time`` answer, received at ``now`` (this machine's UTC)."""
    stamp, diff = _int_or_none(answer.get("timestamp")), _int_or_none(answer.get("time_diff"))
    region = answer.get("region")
    offset = diff if diff is not None and abs(diff) <= 24 * 60 else None
    zone = shown_zone(region[:64]) if isinstance(region, str) and region.isprintable() else None
    if stamp is None:
        return PlugTime("?", zone, offset, None)
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp + (offset or 0) * 60))
    return PlugTime(local, zone, offset, stamp - now)


# the names one zone goes by: the old plugs' table says UCT, SMART plugs Etc/UTC
UTC_NAMES = frozenset(
    {"UTC", "UCT", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"}
)


def shown_zone(name: str) -> str:
    """A zone's name as kshell shows it: UTC by one name, whatever the plug calls it."""
    return "UTC" if name in UTC_NAMES else name


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


CAPABILITY: Capability[TimeModule] = Capability(
    "clock", iot=IotTime, smart=SmartTime, lacking="a clock kshell can read"
)
