"""The capabilities in the SMART family's language (JSON-RPC methods; PROTOCOLS.md section 5)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kshell.device.capabilities import base
from kshell.device.capabilities import smart_info as si
from kshell.device.capabilities.alias import SmartAlias
from kshell.device.capabilities.firmware import SmartFirmware
from kshell.device.capabilities.led import SmartLed
from kshell.device.capabilities.meter import SmartMeter
from kshell.device.capabilities.reboot import SmartReboot
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.device.state import Info
from kshell.errors import ProtocolError, UnsupportedDevice

if TYPE_CHECKING:
    from kshell.device.capabilities.clock import PlugTime, TimeModule

Answers = dict[str, dict[str, Any] | SmartError]

# watts, best method first: mW with V and A; mW alone; whole watts (a low-precision fallback)
POWER_METHODS = ("get_emeter_data", "get_energy_usage", "get_current_power")
DAILY, MONTHLY = 1440, 43200  # get_energy_data intervals, in minutes


class SmartInfo(base.InfoModule):
    """One ``update``: device info and the LED in one batch; the component list asked once."""

    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto
        self.components: dict[str, int] | None = None
        self.children: tuple[str, ...] = ()  # outlet ids, for `on STRIP`
        self.time_diff: int | None = None  # minutes east of UTC, as the plug keeps time

    async def read(self) -> Info:
        return (await self._read(()))[0]

    async def read_with_clock(self, clock: TimeModule) -> tuple[Info, PlugTime | None]:
        """The clock in the same batch as the device info (one exchange, not two)."""
        from kshell.device.capabilities.clock import smart_time_of

        info, answers = await self._read(("get_device_time",))
        answer = answers.get("get_device_time")
        return info, smart_time_of(answer, time.time()) if isinstance(answer, dict) else None

    async def _read(self, extra: tuple[str, ...]) -> tuple[Info, Answers]:
        calls: list[tuple[str, dict[str, Any] | None]] = [("get_device_info", None)]
        if self.components is None:
            calls.append(("component_nego", None))  # asked once
        calls += [(method, None) for method in extra]
        # the LED last: asked before the components are known (nearly every plug has one),
        # and a plug that stops a batch at a failing entry stops after everything else
        if self.components is None or "led" in self.components:
            calls.append(("get_led_info", None))
        answers = await self.proto.call_many(calls)
        device = _ok(answers, "get_device_info")
        if self.components is None:
            self.components = si.components(_ok(answers, "component_nego"))
        led = answers.get("get_led_info") if "led" in self.components else None
        kids: tuple[Any, ...] = ()
        if "child_device" in self.components or "control_child" in self.components:
            raw = await self.proto.call_paged("get_child_device_list", "child_device_list")
            kids = si.children_of(raw)
        self.children = tuple(c.id for c in kids)
        diff = device.get("time_diff")
        self.time_diff = diff if isinstance(diff, int) and abs(diff) <= 24 * 60 else None
        info = si.info_of(device, self.components, led if isinstance(led, dict) else None, kids)
        if info.kind == "bulb":
            raise UnsupportedDevice("a bulb, not a plug: not supported", target=self.proto.label)
        return info, answers

    async def ping(self) -> None:
        await self.proto.call("get_device_info", idempotent=True)


def _ok(answers: dict[str, dict[str, Any] | SmartError], method: str) -> dict[str, Any]:
    answer = answers.get(method)
    if isinstance(answer, SmartError):
        raise answer
    if answer is None:
        raise ProtocolError(f"no answer to {method}")
    return answer


class SmartRelay(base.RelayModule):
    def __init__(self, proto: SmartProtocol, info: SmartInfo) -> None:
        self.proto = proto
        self.info = info

    async def set(self, on: bool, child: str | None = None) -> None:
        if child is None and self.info.components is None:
            await self.info.read()  # is it a strip? its outlets are switched one by one
        if child is None and self.info.children:  # a strip's parent has no relay of its own
            for outlet in self.info.children:
                await self.proto.call("set_device_info", {"device_on": on}, child_id=outlet)
            return
        await self.proto.call("set_device_info", {"device_on": on}, child_id=child)


def modules(proto: SmartProtocol) -> base.Modules:
    info = SmartInfo(proto)
    return base.Modules(
        info=info,
        relay=SmartRelay(proto, info),
        led=SmartLed(proto),
        alias=SmartAlias(proto),
        meter=SmartMeter(proto, info),
        firmware=SmartFirmware(proto),
        reboot=SmartReboot(proto),
    )
