"""The capabilities a plug offers, one small interface each, the same for every family.

A capability in its own file (``led.py``, ``meter.py``: see ``declaration``) holds its
interface there; the ones below are still implemented per family in ``iot.py`` and
``smart.py``. Commands, ``emeter watch`` and ``firmware stage`` see only the interfaces.
``child`` names a strip's outlet.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kshell.device.capabilities.alias import AliasModule
    from kshell.device.capabilities.clock import PlugTime, TimeModule
    from kshell.device.capabilities.firmware import FirmwareModule
    from kshell.device.capabilities.led import LedModule
    from kshell.device.capabilities.meter import MeterModule
    from kshell.device.capabilities.reboot import RebootModule
    from kshell.device.meter_rules import Reading
    from kshell.device.state import Info


class InfoModule(abc.ABC):
    @abc.abstractmethod
    async def read(self) -> Info:
        """Everything the plug says about itself, as one typed reading."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """One cheap read, to time a round trip."""

    async def read_with_clock(self, clock: TimeModule) -> tuple[Info, PlugTime | None]:
        """``read`` and the plug's clock (None: it could not be read), in as few exchanges
        as the family allows; by default one after the other."""
        from kshell.errors import KshellError

        info = await self.read()
        try:
            return info, await clock.read()
        except KshellError:
            return info, None

    async def read_with_reading(self, meter: MeterModule) -> tuple[Info, Reading | None]:
        """``read`` and, where the family can ask both in one exchange, the whole plug's
        realtime reading (None: none came with it; ask ``meter`` as usual)."""
        return await self.read(), None


class RelayModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, on: bool, child: str | None = None) -> None:
        """Switch the relay (a strip's outlet when ``child`` is given)."""


class Modules(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to make at start-up
    """One family's implementation of every capability, over one protocol."""

    info: InfoModule
    relay: RelayModule
    led: LedModule
    alias: AliasModule
    meter: MeterModule
    firmware: FirmwareModule
    reboot: RebootModule
