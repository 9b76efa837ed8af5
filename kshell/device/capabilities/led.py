"""The status light: switched on or off, the whole device's (a strip's outlets share it).

IOT: ``system``/``set_led_off``. SMART: ``set_led_info`` with the rule read first, so the
plug's other LED settings are written back as they were.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from kshell.device.capabilities.declaration import Capability, Known

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol


class LedModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, on: bool) -> None:
        """Turn the status light on or off."""


class IotLed(LedModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def set(self, on: bool) -> None:
        await self.proto.query("system", "set_led_off", {"off": int(not on)})


class SmartLed(LedModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def set(self, on: bool) -> None:
        current = await self.proto.call("get_led_info", idempotent=True)
        rule = {**current, "led_rule": "always" if on else "never"}
        await self.proto.call("set_led_info", rule)


def _has_light(plug: Known) -> bool:
    return plug.kind in ("plug", "strip")


CAPABILITY: Capability[LedModule] = Capability(
    "led", iot=IotLed, smart=SmartLed, lacking="a status light", known=_has_light
)
