"""A plug's name, or one outlet's of a strip.

IOT: ``system``/``set_dev_alias``. SMART: ``set_device_info`` with a base64 ``nickname``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from kshell.device.capabilities import smart_info as si
from kshell.device.capabilities.declaration import Capability

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol


class AliasModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, name: str, child: str | None = None) -> None:
        """Rename the plug, or one outlet of a strip."""


class IotAlias(AliasModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def set(self, name: str, child: str | None = None) -> None:
        await self.proto.query("system", "set_dev_alias", {"alias": name}, child_id=child)


class SmartAlias(AliasModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def set(self, name: str, child: str | None = None) -> None:
        await self.proto.call("set_device_info", {"nickname": si.b64(name)}, child_id=child)


CAPABILITY: Capability[AliasModule] = Capability(
    "alias", iot=IotAlias, smart=SmartAlias, lacking="a name"
)
