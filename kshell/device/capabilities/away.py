"""Away mode: the plug switches itself on and off at random between two times of day.

IOT: ``anti_theft`` rules (``stime_opt``/``smin`` to ``etime_opt``/``emin`` on ``wday``
days, ``frequency``), read back after every write. SMART: ``get_antitheft_rules`` is listed;
its writes are not on record and are refused.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from kshell.device.capabilities.declaration import Capability
from kshell.device.capabilities.rule_words import When, days_words, safe_id, when_fields, when_of
from kshell.device.protocols.iot import IotProtocol
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.errors import DeviceError, KshellError, UnsupportedDevice

FREQUENCY = 5  # switches per window, as the vendor's app sets it


@dataclass(frozen=True, slots=True)
class AwayRule:
    id: str
    start: When
    end: When
    wday: tuple[int, ...]
    repeat: bool
    enabled: bool

    def words(self) -> str:
        days = days_words(self.wday, self.repeat)
        return f"{days} {self.start.words()}-{self.end.words()} random on/off"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.words(), "enabled": self.enabled}


class AwayModule(abc.ABC):
    @abc.abstractmethod
    async def read(self) -> list[AwayRule]: ...

    @abc.abstractmethod
    async def add(
        self, start: When, end: When, wday: tuple[int, ...], repeat: bool
    ) -> AwayRule: ...

    @abc.abstractmethod
    async def clear(self) -> int: ...


def _num(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class IotAway(AwayModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def _ask(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await self.proto.query("anti_theft", method, params, idempotent=not params)
        except DeviceError as exc:
            if exc.code in (-1, -2):
                raise UnsupportedDevice(
                    "the plug has no away mode (anti_theft)", target=self.proto.label
                ) from None
            raise

    async def read(self) -> list[AwayRule]:
        listed = (await self._ask("get_rules")).get("rule_list")
        out = []
        for raw in listed[:32] if isinstance(listed, list) else []:
            if not isinstance(raw, dict) or safe_id(raw.get("id")) is None:
                continue
            start, end, wday = when_of("s", raw), when_of("e", raw), raw.get("wday")
            if start is None or end is None or not isinstance(wday, list) or len(wday) != 7:
                continue
            flags = tuple(1 if d else 0 for d in wday)
            out.append(
                AwayRule(
                    raw["id"], start, end, flags, raw.get("repeat") != 0, raw.get("enable") != 0
                )
            )
        return out

    async def add(self, start: When, end: When, wday: tuple[int, ...], repeat: bool) -> AwayRule:
        before = {r.id for r in await self.read()}
        rule = {
            "name": "kshell away",
            "enable": 1,
            "frequency": FREQUENCY,
            **when_fields("s", start),
            **when_fields("e", end),
            "wday": list(wday),
            "repeat": int(repeat),
            "year": 0,
            "month": 0,
            "day": 0,
            "latitude": 0,
            "longitude": 0,
        }
        await self._ask("add_rule", rule)
        fresh = [r for r in await self.read() if r.id not in before]
        if not fresh:
            raise KshellError(
                "the plug answered 0 but did not store the rule", target=self.proto.label
            )
        return fresh[0]

    async def clear(self) -> int:
        count = len(await self.read())
        await self._ask("delete_all_rules")
        if await self.read():
            raise KshellError(
                "the plug answered 0 but kept its away rules", target=self.proto.label
            )
        return count


class SmartAway(AwayModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def read(self) -> list[AwayRule]:
        try:
            answer = await self.proto.call("get_antitheft_rules", idempotent=True)
        except SmartError as exc:
            if exc.code in (-1, -1002):
                raise UnsupportedDevice(
                    "the plug has no away mode", target=self.proto.label
                ) from None
            raise
        listed = answer.get("rule_list")
        out = []
        for raw in listed[:32] if isinstance(listed, list) else []:
            if isinstance(raw, dict) and safe_id(raw.get("id")):
                start, end = (
                    When(0, _num(raw.get("s_min")) or 0),
                    When(0, _num(raw.get("e_min")) or 0),
                )
                mask = _num(raw.get("week_day")) or 0
                flags = tuple((mask >> i) & 1 for i in range(7))
                out.append(
                    AwayRule(str(raw["id"]), start, end, flags, True, raw.get("enable") is True)
                )
        return out

    async def add(self, start: When, end: When, wday: tuple[int, ...], repeat: bool) -> AwayRule:
        raise UnsupportedDevice(
            "setting away mode: the request format is not on record for SMART plugs",
            target=self.proto.label,
        )

    async def clear(self) -> int:
        raise UnsupportedDevice(
            "clearing away mode: the request format is not on record for SMART plugs",
            target=self.proto.label,
        )


CAPABILITY: Capability[AwayModule] = Capability(
    "away", iot=IotAway, smart=SmartAway, lacking="an away mode"
)
