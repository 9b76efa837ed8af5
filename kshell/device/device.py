"""A plug, whatever it speaks: capability modules over one protocol, and its last state.

Commands, ``emeter watch`` and ``firmware stage`` use only this: ``update()`` reads the
plug's ``Info``; ``relay``, ``led``, ``alias``, ``meter``, ``firmware``, ``reboot``,
``time``, ``schedule`` and the rest act in the family's own language; ``children`` are the
strip's outlets as last read. One object per plug per session (``kshell.device.pool``).
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

from kshell.device.capabilities import alias, firmware, info, led, meter, reboot, relay
from kshell.device.transports import defaults
from kshell.errors import DeviceError, KshellError

if TYPE_CHECKING:  # a plug's family is imported when a plug of it is used (kshell.device.pool)
    from kshell.device.capabilities.away import AwayModule
    from kshell.device.capabilities.clock import PlugTime, TimeModule
    from kshell.device.capabilities.dimmer import DimmerModule
    from kshell.device.capabilities.feature import FeatureModule
    from kshell.device.capabilities.schedule import ScheduleModule
    from kshell.device.capabilities.timers import TimersModule
    from kshell.device.meter_rules import Reading
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol
    from kshell.device.state import Child, Info

    Protocol = IotProtocol | SmartProtocol


class Device:
    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        # each capability's form for this plug's family (kshell.device.capabilities)
        self._info_module = info.CAPABILITY.build(protocol)
        self.relay = relay.CAPABILITY.build(protocol)
        self.led = led.CAPABILITY.build(protocol)
        self.alias = alias.CAPABILITY.build(protocol)
        self.meter = meter.CAPABILITY.build(protocol)
        self.firmware = firmware.CAPABILITY.build(protocol)
        self.reboot = reboot.CAPABILITY.build(protocol)
        self.info: Info | None = None  # the last state read
        self.read_at = 0.0  # time.monotonic() of that read: a caller may reuse a recent one
        self.clock_reading: PlugTime | None = None  # the clock, read with update(clock=True)
        self.realtime: Reading | None = None  # the reading that came with update(reading=True)

    # everyday control (issue 12): built on first use, each picks its family's language
    @functools.cached_property
    def time(self) -> TimeModule:
        from kshell.device.capabilities import clock

        return clock.CAPABILITY.build(self.protocol)

    @functools.cached_property
    def schedule(self) -> ScheduleModule:
        from kshell.device.capabilities import schedule

        return schedule.CAPABILITY.build(self.protocol)

    @functools.cached_property
    def dimmer(self) -> DimmerModule:
        from kshell.device.capabilities import dimmer

        return dimmer.CAPABILITY.build(self.protocol)

    @functools.cached_property
    def features(self) -> FeatureModule:
        from kshell.device.capabilities import feature

        return feature.CAPABILITY.build(self.protocol)

    @functools.cached_property
    def timers(self) -> TimersModule:
        from kshell.device.capabilities import timers

        return timers.CAPABILITY.build(self.protocol)

    @functools.cached_property
    def away(self) -> AwayModule:
        from kshell.device.capabilities import away

        return away.CAPABILITY.build(self.protocol)

    @property
    def family(self) -> str:
        return self.protocol.family

    @property
    def label(self) -> str:
        return self.protocol.label

    @property
    def state(self) -> Info:
        """The last state read (``update`` first)."""
        if self.info is None:
            raise KshellError("the plug has not been read yet", target=self.label)
        return self.info

    @property
    def children(self) -> tuple[Child, ...]:
        return self.info.children if self.info else ()

    def connection(self) -> dict[str, Any]:
        """How the shell talks to this plug, for `info`: protocol, transport, login version;
        whether the plug proved it knows the password; whether it is unclaimed."""
        transport = self.protocol.transport
        kind = type(transport).__name__.removesuffix("Transport").upper()
        out: dict[str, Any] = {"protocol": f"{self.family.upper()} over {kind}"}
        version = getattr(transport, "login_version", None)
        if isinstance(version, int) and kind != "XOR":
            out["login_version"] = version
        if getattr(transport, "authenticates_plug", True) is False:
            out["caution"] = (
                "AES cannot prove the plug knows the password (it sends the credentials to "
                "whoever answers"
                + (
                    ", the password only base64-encoded with login version 1)"
                    if version == 1
                    else ")"
                )
            )
        source = getattr(transport, "credentials_source", None)
        if isinstance(source, str) and source != defaults.OWNER:
            out["unclaimed"] = f"yes: the plug took {source} (set it up in the Kasa/Tapo app)"
        return out

    async def update(self, *, clock: bool = False, reading: bool = False) -> Info:
        """Read the plug afresh; the answer becomes its last state. ``clock``: read its clock
        too, in the same exchange where the family allows it (``clock_reading``; None when
        it could not be read). ``reading``: its realtime reading too, where the family can
        ask both at once (``realtime``; None when it did not come with it)."""
        if clock:
            self.info, self.clock_reading = await self._info_module.read_with_clock(self.time)
        elif reading:
            self.info, self.realtime = await self._info_module.read_with_reading(self.meter)
        else:
            self.info = await self._info_module.read()
        self.read_at = time.monotonic()
        return self.info

    async def ping(self) -> None:
        """The family's cheapest full request (a round trip that proves the plug answers)."""
        await self._info_module.ping()

    async def raw(self, request: dict[str, Any], child: str | None = None) -> dict[str, Any]:
        """A request in the family's own shape, sent once; the answer as it is."""
        return await self.protocol.raw(request, child_id=child)

    def errors_in(
        self, request: dict[str, Any], answer: dict[str, Any], target: str
    ) -> list[DeviceError]:
        """The errors a raw answer carries, as the family reports them."""
        return self.protocol.errors_in(request, answer, target)

    def close(self) -> None:
        """Drop the link (a plug about to restart); the next request starts afresh."""
        self.protocol.close()
