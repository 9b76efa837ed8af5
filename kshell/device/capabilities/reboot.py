"""Restarting the plug after a delay.

IOT: ``system``/``reboot``. SMART: ``device_reboot``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from kshell.device.capabilities.declaration import Capability

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol


class RebootModule(abc.ABC):
    @abc.abstractmethod
    async def reboot(self, delay: int) -> None:
        """Restart the plug after ``delay`` seconds."""


class IotReboot(RebootModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def reboot(self, delay: int) -> None:
        await self.proto.query("system", "reboot", {"delay": delay})


class SmartReboot(RebootModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def reboot(self, delay: int) -> None:
        await self.proto.call("device_reboot", {"delay": delay})


CAPABILITY: Capability[RebootModule] = Capability(
    "reboot", iot=IotReboot, smart=SmartReboot, lacking="a restart"
)
