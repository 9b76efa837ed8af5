"""The parts of a simulated IOT device: its outlets, its rule tables, and the errors its
handlers answer with (the firmware's own codes and messages)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from kshell.simulator.energy import EnergyMeter

Answer = dict[str, Any]

MODULE_NOT_SUPPORT = {"err_code": -1, "err_msg": "module not support"}
MEMBER_NOT_SUPPORT = {"err_code": -2, "err_msg": "member not support"}
INVALID_ARGUMENT = {"err_code": -3, "err_msg": "invalid argument"}
ENTRY_NOT_EXIST = {"err_code": -14, "err_msg": "entry not exist"}
TABLE_FULL = {"err_code": -10, "err_msg": "table is full"}


class DeviceError(Exception):
    """Raised by a handler: becomes that method's answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.get("err_msg", ""))
        self.answer = dict(answer)


def int_arg(args: dict[str, Any], key: str, allowed: range | None = None) -> int:
    """An integer argument (not a bool), in ``allowed`` when given; else invalid argument."""
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeviceError(INVALID_ARGUMENT)
    if allowed is not None and value not in allowed:
        raise DeviceError(INVALID_ARGUMENT)
    return value


class Socket:
    """One switched outlet: the plug itself, or one outlet of a strip."""

    def __init__(
        self, sid: str, alias: str, state: int, meter: EnergyMeter, on_since: float | None
    ) -> None:
        self.id = sid
        self.alias = alias
        self.state = state
        self.meter = meter
        self.on_since = on_since if state else None
        seed = meter.seed
        self.vgain = 12000 + seed % 2500
        self.igain = 15000 + (seed // 7) % 2500

    def set_state(self, now: float, state: int) -> None:
        self.meter.advance(now, bool(self.state))  # account for the old state first
        if state and not self.state:
            self.on_since = now
        elif not state:
            self.on_since = None
        self.state = state
        self.meter.advance(now, bool(state))

    def on_time(self, now: float) -> int:
        return int(now - self.on_since) if self.state and self.on_since is not None else 0


class RuleTable:
    """schedule / anti_theft / count_down rules: stored and listed, not acted on."""

    def __init__(self, enable: int, limit: int | None = None) -> None:
        self.rules: list[dict[str, Any]] = []
        self.enable = enable
        self.limit = limit

    def add(self, rule: dict[str, Any]) -> Answer:
        if self.limit is not None and len(self.rules) >= self.limit:
            raise DeviceError(TABLE_FULL)
        rid = hashlib.md5(repr((rule, len(self.rules), time.time())).encode()).hexdigest()
        self.rules.append({**rule, "id": rid.upper()})
        return {"id": rid.upper(), "err_code": 0}

    def edit(self, rule: dict[str, Any]) -> Answer:
        for i, old in enumerate(self.rules):
            if old["id"] == rule.get("id"):
                self.rules[i] = dict(rule)
                return {"err_code": 0}
        raise DeviceError(ENTRY_NOT_EXIST if "id" in rule else INVALID_ARGUMENT)

    def delete(self, rid: Any) -> Answer:
        for i, old in enumerate(self.rules):
            if old["id"] == rid:
                del self.rules[i]
                return {"err_code": 0}
        raise DeviceError(ENTRY_NOT_EXIST)
