"""Brightness of dimmers and dimmable wall switches (1-100), read back after every write.

IOT dimmers (HS220, ES20M, KS230...) report ``brightness`` in their sysinfo and take it by
``smartlife.iot.dimmer``/``set_brightness``; SMART ones report it in ``get_device_info`` and
take it by ``set_device_info``. Plain switches (HS200, HS210) have none: a one-line refusal.
"""

from __future__ import annotations

import abc
from typing import Any

from kshell.device.capabilities.declaration import Capability
from kshell.device.protocols.iot import IotProtocol
from kshell.device.protocols.smart import SmartProtocol
from kshell.errors import KshellError, UnsupportedDevice

LOWEST, HIGHEST = 1, 100
NOT_A_DIMMER = "the plug has no brightness (not a dimmer)"


class DimmerModule(abc.ABC):
    @abc.abstractmethod
    async def read(self) -> int:
        """The brightness, 1-100."""

    @abc.abstractmethod
    async def set(self, level: int) -> int:
        """Set the brightness; what the plug reports afterwards."""


def check_level(level: int) -> int:
    if not LOWEST <= level <= HIGHEST:
        raise KshellError(f"brightness {level} is out of range: {LOWEST}-{HIGHEST}")
    return level


class IotDimmer(DimmerModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def read(self) -> int:
        sysinfo = await self.proto.query("system", "get_sysinfo", idempotent=True)
        return _level(sysinfo, self.proto.label)

    async def set(self, level: int) -> int:
        check_level(level)
        await self.read()  # refuses a plug without brightness before writing anything
        await self.proto.query("smartlife.iot.dimmer", "set_brightness", {"brightness": level})
        return await self.read()


class SmartDimmer(DimmerModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def read(self) -> int:
        return _level(await self.proto.call("get_device_info", idempotent=True), self.proto.label)

    async def set(self, level: int) -> int:
        check_level(level)
        await self.read()
        await self.proto.call("set_device_info", {"brightness": level})
        return await self.read()


def _level(answer: dict[str, Any], label: str) -> int:
    value = answer.get("brightness")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsupportedDevice(NOT_A_DIMMER, target=label)
    return max(0, min(HIGHEST, value))


CAPABILITY: Capability[DimmerModule] = Capability(
    "dimmer", iot=IotDimmer, smart=SmartDimmer, lacking="a brightness setting"
)
