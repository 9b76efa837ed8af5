"""Schedule rules: list, add, delete, enable/disable; every write is read back.

The IOT family's ``schedule`` module is well recorded (rules with ``wday``, ``sact``,
``stime_opt``, ``smin``). The SMART family's rule list is on record but the shape of its
writes is not: there the rules are listed and every write refused, naming why.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any

from kshell.device.capabilities.declaration import Capability
from kshell.device.capabilities.rule_words import Rule, When, safe_id, when_fields, when_of
from kshell.device.protocols.iot import IotProtocol
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.errors import DeviceError, KshellError, UnsupportedDevice

MAX_RULES = 32  # what the plugs report as their table size (schedule_rule_max_count)
SMART_WRITE_REFUSAL = (
    "changing a SMART plug's schedule is not supported: the request format is not on record "
    "(use the vendor's app; `schedule` lists what the plug keeps)"
)
_SCHEDULE_MODULES = ("schedule", "smartlife.iot.common.schedule")


@dataclass(frozen=True, slots=True)
class Schedule:
    enabled: bool  # the plug's overall switch for its schedule
    rules: tuple[Rule, ...]
    location_unset: bool  # latitude and longitude 0: sun rules fire at the wrong time
    writable: bool
    location: tuple[float, float] | None = None  # latitude, longitude (degrees), when set

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def full_id(self, word: str, label: str) -> str:
        """The id a rule word names: the whole id, or a unique prefix of one (any case)."""
        if self.rule(word) is not None:
            return word
        found = [r.id for r in self.rules if r.id.upper().startswith(word.upper())] if word else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise KshellError(
                f"rule {word[:40]!r} is the start of {len(found)} rules: type more of it",
                target=label,
            )
        raise unknown_rule(word, self, label)


SHORT_ID = 8  # characters of a rule id shown: unique among a plug's rules, else more


def short_ids(rules: tuple[Rule, ...]) -> dict[str, str]:
    """Each rule's id cut to the shortest length (at least SHORT_ID) that tells them apart."""
    size = SHORT_ID
    ids = [r.id for r in rules]
    while size < max((len(i) for i in ids), default=0):
        if len({i[:size].upper() for i in ids}) == len(ids):
            break
        size += 4
    return {i: i[:size] for i in ids}


class NotStored(KshellError):
    """The plug answered success but its table does not show the change."""


class ScheduleModule(abc.ABC):
    @abc.abstractmethod
    async def read(self) -> Schedule:
        """The rules the plug keeps."""

    @abc.abstractmethod
    async def add(self, on: bool, when: When, wday: tuple[int, ...], repeat: bool) -> Rule:
        """Add a rule; the rule as the plug stored it (read back)."""

    @abc.abstractmethod
    async def delete(self, rule_id: str | None) -> int:
        """Delete one rule, or all with ``None``; how many went (read back)."""

    @abc.abstractmethod
    async def enable(self, rule_id: str | None, on: bool) -> None:
        """Enable or disable one rule, or the whole schedule with ``None`` (read back)."""


def unknown_rule(rule_id: str, schedule: Schedule, label: str) -> KshellError:
    known = ", ".join(short_ids(schedule.rules[:8]).values()) or "none"
    return KshellError(f"no rule {rule_id[:40]!r} (rules: {known})", target=label)


class IotSchedule(ScheduleModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto
        self.module = _SCHEDULE_MODULES[0]
        self.raw: dict[str, dict[str, Any]] = {}  # rules as the plug sent them, by id
        self.last: Schedule | None = None  # the last read, for completion

    async def _ask(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await self.proto.query(self.module, method, params, idempotent=not params)
        except DeviceError as exc:
            if exc.code not in (-1, -2):
                raise
            if self.module == _SCHEDULE_MODULES[0] and exc.code == -1:
                self.module = _SCHEDULE_MODULES[1]
                return await self._ask(method, params)
            raise UnsupportedDevice("the plug keeps no schedule", target=self.proto.label) from None

    async def read(self) -> Schedule:
        answer = await self._ask("get_rules")
        listed = answer.get("rule_list")
        rules, self.raw = [], {}
        for raw in listed[:MAX_RULES] if isinstance(listed, list) else []:
            rule = iot_rule(raw)
            if rule is not None:
                rules.append(rule)
                self.raw[rule.id] = raw
        sysinfo = await self.proto.query("system", "get_sysinfo", idempotent=True)
        self.last = Schedule(
            answer.get("enable") != 0, tuple(rules), _unset(sysinfo), True, location_of(sysinfo)
        )
        return self.last

    async def add(self, on: bool, when: When, wday: tuple[int, ...], repeat: bool) -> Rule:
        before = await self.read()
        if len(before.rules) >= MAX_RULES:
            raise KshellError(f"the plug's schedule is full ({MAX_RULES} rules)")
        rule = {
            "name": "kshell",
            "enable": 1,
            "wday": list(wday),
            "repeat": int(repeat),
            "sact": int(on),
            **when_fields("s", when),
            "etime_opt": -1,
            "eact": -1,
            "emin": 0,
            "year": 0,
            "month": 0,
            "day": 0,
            "force": 0,
            "latitude": 0,
            "longitude": 0,
        }
        answer = await self._ask("add_rule", rule)
        new_id = safe_id(answer.get("id"))
        after = await self.read()
        stored = after.rule(new_id) if new_id else None
        if stored is None:
            fresh = [r for r in after.rules if before.rule(r.id) is None]
            stored = fresh[0] if len(fresh) == 1 else None
        if stored is None:
            raise NotStored(
                "the plug answered 0 but did not store the rule", target=self.proto.label
            )
        return stored

    async def delete(self, rule_id: str | None) -> int:
        before = await self.read()
        if rule_id is None:
            await self._ask("delete_all_rules")
        else:
            rule_id = before.full_id(rule_id, self.proto.label)
            await self._ask("delete_rule", {"id": rule_id})
        after = await self.read()
        left = [r for r in after.rules if rule_id is None or r.id == rule_id]
        if left:
            raise NotStored("the plug answered 0 but kept the rule", target=self.proto.label)
        return len(before.rules) - len(after.rules)

    async def enable(self, rule_id: str | None, on: bool) -> None:
        before = await self.read()
        if rule_id is None:
            await self._ask("set_overall_enable", {"enable": int(on)})
            if (await self.read()).enabled != on:
                raise NotStored("the plug answered 0 but did not change", target=self.proto.label)
            return
        rule_id = before.full_id(rule_id, self.proto.label)
        await self._ask("edit_rule", {**self.raw[rule_id], "enable": int(on)})
        stored = (await self.read()).rule(rule_id)
        if stored is None or stored.enabled != on:
            raise NotStored("the plug answered 0 but did not change", target=self.proto.label)


def iot_rule(raw: Any) -> Rule | None:
    """A rule from an IOT rule list, if its fields are what the module keeps."""
    if not isinstance(raw, dict):
        return None
    rid, wday = safe_id(raw.get("id")), raw.get("wday")
    when, action = when_of("s", raw), _num(raw.get("sact"))
    if rid is None or not isinstance(wday, list) or len(wday) != 7:
        return None
    if when is None or action is None:
        return None
    flags = tuple(1 if d else 0 for d in wday)
    return Rule(
        rid,
        raw.get("enable") != 0,
        action == 1,
        when,
        flags,
        raw.get("repeat") != 0,
    )


class SmartSchedule(ScheduleModule):
    """Lists ``get_schedule_rules``; refuses writes (their shape is not on record)."""

    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto
        self.last: Schedule | None = None  # the last read, for completion

    async def read(self) -> Schedule:
        try:
            answer = await self.proto.call(
                "get_schedule_rules", {"start_index": 0}, idempotent=True
            )
            device = await self.proto.call("get_device_info", idempotent=True)
        except SmartError as exc:
            if exc.code in (-1, -1002):
                raise UnsupportedDevice(
                    "the plug keeps no schedule", target=self.proto.label
                ) from None
            raise
        listed = answer.get("rule_list")
        rules = tuple(
            r
            for r in (
                smart_rule(x) for x in (listed if isinstance(listed, list) else [])[:MAX_RULES]
            )
            if r
        )
        self.last = Schedule(
            answer.get("enable") is True,
            rules,
            _unset(device),
            False,
            location_of(device, smart=True),
        )
        return self.last

    async def add(self, on: bool, when: When, wday: tuple[int, ...], repeat: bool) -> Rule:
        raise UnsupportedDevice(SMART_WRITE_REFUSAL, target=self.proto.label)

    async def delete(self, rule_id: str | None) -> int:
        raise UnsupportedDevice(SMART_WRITE_REFUSAL, target=self.proto.label)

    async def enable(self, rule_id: str | None, on: bool) -> None:
        raise UnsupportedDevice(SMART_WRITE_REFUSAL, target=self.proto.label)


def smart_rule(raw: Any) -> Rule | None:
    """A rule from ``get_schedule_rules`` (s_type normal/sunrise/sunset, week_day a bitmask)."""
    if not isinstance(raw, dict) or safe_id(raw.get("id")) is None:
        return None
    kind = {"normal": 0, "sunrise": 1, "sunset": 2}.get(raw.get("s_type", ""))
    minute, mask = _num(raw.get("s_min")), _num(raw.get("week_day"))
    states = raw.get("desired_states")
    on = states.get("on") if isinstance(states, dict) else None
    if kind is None or minute is None or mask is None or not isinstance(on, bool):
        return None
    offset = _num(raw.get("time_offset")) or 0
    when = When(kind, minute if kind == 0 else offset)
    flags = tuple((mask >> i) & 1 for i in range(7))
    return Rule(
        str(raw["id"]), raw.get("enable") is not False, on, when, flags, raw.get("mode") != "once"
    )


def _unset(info: dict[str, Any]) -> bool:
    """Latitude and longitude both 0 (or absent): the plug cannot know sunrise or sunset."""
    values = [info.get(k) for k in ("latitude", "longitude", "latitude_i", "longitude_i")]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return all(v == 0 for v in numbers)


def location_of(info: dict[str, Any], *, smart: bool = False) -> tuple[float, float] | None:
    """The plug's latitude and longitude in degrees, or None when unset or out of range.
    IOT plugs send ``latitude_i`` (1/10000 degree) or, on old hardware, ``latitude`` in
    degrees; SMART plugs send ``latitude`` in 1/10000 degree."""
    keys = [("latitude", "longitude", 1e-4)] if smart else []
    keys += [] if smart else [("latitude_i", "longitude_i", 1e-4), ("latitude", "longitude", 1.0)]
    for lat_key, lon_key, scale in keys:
        lat, lon = _degrees(info.get(lat_key), scale), _degrees(info.get(lon_key), scale)
        if lat is None or lon is None:
            continue
        if (lat, lon) != (0.0, 0.0) and abs(lat) <= 90 and abs(lon) <= 180:
            return lat, lon
        return None
    return None


def _degrees(value: Any, scale: float) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) * scale
    return None


def _num(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


CAPABILITY: Capability[ScheduleModule] = Capability(
    "schedule", iot=IotSchedule, smart=SmartSchedule, lacking="a schedule"
)
