"""The capabilities a plug offers, one small interface each, the same for every family.

Each family implements them in its own language (``iot.py``, ``smart.py``); commands,
``emeter watch`` and ``firmware stage`` see only these. ``child`` names a strip's outlet.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kshell.device.capabilities.clock import PlugTime, TimeModule
    from kshell.device.meter_rules import Reading
    from kshell.device.readings import Energy, FirmwareState
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


class LedModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, on: bool) -> None:
        """Turn the status light on or off."""


class AliasModule(abc.ABC):
    @abc.abstractmethod
    async def set(self, name: str, child: str | None = None) -> None:
        """Rename the plug, or one outlet of a strip."""


class MeterModule(abc.ABC):
    @abc.abstractmethod
    async def read(self, child: str | None = None) -> Reading:
        """One realtime reading in W, V, A (and kWh where the plug keeps a total)."""

    async def read_while(
        self, on_reading: Callable[[Reading], bool], child: str | None = None
    ) -> bool:
        """Realtime readings one after the other, each handed to ``on_reading`` (called in
        the event loop's callback: it must not wait), for as long as it says True, where the
        family's link can repeat a read without resuming a coroutine per answer. False:
        nothing was read this way (use ``read``)."""
        return False

    @abc.abstractmethod
    async def days(self, year: int, month: int, child: str | None = None) -> list[Energy]:
        """Energy per day of a month, as far as the plug keeps it."""

    @abc.abstractmethod
    async def months(self, year: int, child: str | None = None) -> list[Energy]:
        """Energy per month of a year, as far as the plug keeps it."""

    @abc.abstractmethod
    async def erase(self, child: str | None = None) -> None:
        """Erase the statistics (callers read back: some firmware erases nothing)."""


class FirmwareModule(abc.ABC):
    @property
    @abc.abstractmethod
    def staging_refusal(self) -> str | None:
        """Why this plug cannot take an image from a local server; None when it can."""

    @abc.abstractmethod
    async def state(self) -> FirmwareState:
        """What the plug reports about its own firmware download or update."""

    @abc.abstractmethod
    async def download(self, url: str) -> None:
        """Tell the plug to fetch an image from ``url``."""

    @abc.abstractmethod
    async def flash(self) -> None:
        """Tell the plug to flash the image it downloaded (it restarts)."""


class RebootModule(abc.ABC):
    @abc.abstractmethod
    async def reboot(self, delay: int) -> None:
        """Restart the plug after ``delay`` seconds."""


class Modules(NamedTuple):  # a NamedTuple, not a dataclass: cheaper to make at start-up
    """One family's implementation of every capability, over one protocol."""

    info: InfoModule
    relay: RelayModule
    led: LedModule
    alias: AliasModule
    meter: MeterModule
    firmware: FirmwareModule
    reboot: RebootModule
