"""The relay: switching the plug, or one outlet of a strip, on or off.

IOT: ``system``/``set_relay_state`` (``child_id`` for an outlet). SMART: ``set_device_info``
with ``device_on``; a strip's parent has no relay of its own, so each outlet is switched.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from kshell.device.capabilities.declaration import Capability
from kshell.device.capabilities.info import SmartInfo

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol


class RelayModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, on: bool, child: str | None = None) -> None:
        """Switch the relay (a strip's outlet when ``child`` is given)."""


class IotRelay(RelayModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def set(self, on: bool, child: str | None = None) -> None:
        await self.proto.query("system", "set_relay_state", {"state": int(on)}, child_id=child)


class SmartRelay(RelayModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def set(self, on: bool, child: str | None = None) -> None:
        learnt = self.proto.learnt
        if child is None and learnt.components is None:
            await SmartInfo(self.proto).read()  # a strip? its outlets are switched one by one
        if child is None and learnt.outlets:  # a strip's parent has no relay of its own
            for outlet in learnt.outlets:
                await self.proto.call("set_device_info", {"device_on": on}, child_id=outlet)
            return
        await self.proto.call("set_device_info", {"device_on": on}, child_id=child)


CAPABILITY: Capability[RelayModule] = Capability(
    "relay", iot=IotRelay, smart=SmartRelay, lacking="a relay"
)
