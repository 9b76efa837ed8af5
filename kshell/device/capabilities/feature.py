"""Generic access: what a plug reports as settable, and setting one of them by name.

Only settings whose write is on record for the family are offered; each write is read back.
IOT: the status light, brightness (dimmers). SMART: the status light, brightness, auto-off
and its delay (``get/set_auto_off_config``); the state after power loss is shown, not set.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from kshell.device.capabilities import dimmer
from kshell.device.capabilities.declaration import Capability
from kshell.device.protocols.iot import IotProtocol
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.errors import KshellError

ON_OFF = ("on", "off")
READ_ONLY = "read only (its write format is not on record)"


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    value: str
    allowed: str  # what a write takes, in words

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "allowed": self.allowed}


def _switch(value: str, name: str) -> bool:
    word = value.strip().lower()
    if word not in ON_OFF:
        raise KshellError(f"{name} takes on or off, not {value[:20]!r}")
    return word == "on"


def _number(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise KshellError(f"{name} takes a whole number {low}-{high}, not {value[:20]!r}")
    return number


class FeatureModule(abc.ABC):
    @abc.abstractmethod
    async def list(self) -> list[Feature]:
        """Every setting the plug reports that kshell can write."""

    @abc.abstractmethod
    async def _write(self, name: str, value: str) -> None: ...

    async def set(self, name: str, value: str) -> Feature:
        """Set one by name; the feature as the plug reports it afterwards."""
        known = {f.name: f for f in await self.list()}
        if name not in known:
            raise KshellError(
                f"no setting {name[:30]!r} here (settable: {', '.join(known) or 'none'})"
            )
        if known[name].allowed == READ_ONLY:
            raise KshellError(f"{name} is {READ_ONLY}")
        await self._write(name, value)
        return {f.name: f for f in await self.list()}[name]


class IotFeatures(FeatureModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def list(self) -> list[Feature]:
        info = await self.proto.query("system", "get_sysinfo", idempotent=True)
        out = []
        if "led_off" in info:
            out.append(Feature("led", "off" if info.get("led_off") else "on", "on|off"))
        level = info.get("brightness")
        if isinstance(level, int) and not isinstance(level, bool):
            out.append(Feature("brightness", str(level), "1-100"))
        return out

    async def _write(self, name: str, value: str) -> None:
        if name == "led":
            await self.proto.query("system", "set_led_off", {"off": int(not _switch(value, name))})
        elif name == "brightness":
            await dimmer.IotDimmer(self.proto).set(_number(value, name, 1, 100))


class SmartFeatures(FeatureModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def _maybe(self, method: str) -> dict[str, Any] | None:
        try:
            return await self.proto.call(method, idempotent=True)
        except SmartError as exc:
            if exc.code in (-1, -1002):  # the plug lacks that component
                return None
            raise

    async def list(self) -> list[Feature]:
        device = await self.proto.call("get_device_info", idempotent=True)
        out = []
        led = await self._maybe("get_led_info")
        if led is not None and isinstance(led.get("led_rule"), str):
            out.append(Feature("led", "off" if led["led_rule"] == "never" else "on", "on|off"))
        level = device.get("brightness")
        if isinstance(level, int) and not isinstance(level, bool):
            out.append(Feature("brightness", str(level), "1-100"))
        auto = await self._maybe("get_auto_off_config")
        if auto is not None and isinstance(auto.get("enable"), bool):
            out.append(Feature("auto_off", "on" if auto["enable"] else "off", "on|off"))
            delay = auto.get("delay_min")
            if isinstance(delay, int) and not isinstance(delay, bool):
                out.append(Feature("auto_off_minutes", str(delay), "1-1440"))
        default = device.get("default_states")
        if isinstance(default, dict) and isinstance(default.get("type"), str):
            kind = default["type"][:20]
            out.append(Feature("power_loss_state", kind, READ_ONLY))
        return out

    async def _write(self, name: str, value: str) -> None:
        if name == "led":
            current = await self.proto.call("get_led_info", idempotent=True)
            rule = "always" if _switch(value, name) else "never"
            await self.proto.call("set_led_info", {**current, "led_rule": rule})
        elif name == "brightness":
            await dimmer.SmartDimmer(self.proto).set(_number(value, name, 1, 100))
        elif name in ("auto_off", "auto_off_minutes"):
            current = await self.proto.call("get_auto_off_config", idempotent=True)
            if name == "auto_off":
                change: dict[str, Any] = {"enable": _switch(value, name)}
            else:
                change = {"delay_min": _number(value, name, 1, 1440)}
            await self.proto.call("set_auto_off_config", {**current, **change})


CAPABILITY: Capability[FeatureModule] = Capability(
    "feature", iot=IotFeatures, smart=SmartFeatures, lacking="settable features"
)
