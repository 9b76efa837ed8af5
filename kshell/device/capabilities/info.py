"""What a plug says about itself, as the typed ``Info`` every family shares; a cheap ping.

IOT: ``system``/``get_sysinfo`` (with the meter's realtime reading in the same request when
a watch asks). SMART: ``get_device_info``, the component list (asked once), the LED and the
clock in one batch; a strip's outlets from ``get_child_device_list``.
"""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING, Any

from kshell.device import meter_rules
from kshell.device import sysinfo as si
from kshell.device.capabilities import smart_info as smart_si
from kshell.device.capabilities.declaration import Capability
from kshell.device.capabilities.meter import IotMeter, MeterModule
from kshell.device.state import Child, Info
from kshell.errors import (
    DeviceError,
    DeviceTimeout,
    KshellError,
    ProtocolError,
    TransportError,
    UnsupportedDevice,
)

if TYPE_CHECKING:
    from kshell.device.capabilities.clock import PlugTime, TimeModule
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartError, SmartProtocol

    Answers = dict[str, dict[str, Any] | SmartError]


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
        info = await self.read()
        try:
            return info, await clock.read()
        except KshellError:
            return info, None

    async def read_with_reading(
        self, meter: MeterModule
    ) -> tuple[Info, meter_rules.Reading | None]:
        """``read`` and, where the family can ask both in one exchange, the whole plug's
        realtime reading (None: none came with it; ask ``meter`` as usual)."""
        return await self.read(), None


def info_of(sysinfo: dict[str, Any]) -> Info:
    """A sysinfo answer as the typed reading every family shares."""
    kind = si.kind_of(sysinfo)
    on_time = sysinfo.get("on_time")
    return Info(
        family="iot",
        alias=si.text(sysinfo, "alias") or "",
        model=si.model(sysinfo),
        kind=kind,
        mac=si.text(sysinfo, "mac") or si.text(sysinfo, "mic_mac") or "",
        hw_ver=si.text(sysinfo, "hw_ver") or "",
        sw_ver=si.text(sysinfo, "sw_ver") or "",
        relay=si.relay_state(sysinfo),
        led=si.led_on(sysinfo),
        on_time=on_time if isinstance(on_time, int) and not isinstance(on_time, bool) else None,
        has_meter=si.has_emeter(sysinfo),
        updating=sysinfo.get("updating") == 1,
        children=tuple(Child(**c) for c in si.children(sysinfo)),
        hw=si.hw_info(sysinfo),
        raw=sysinfo,
    )


class IotInfo(InfoModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def read(self) -> Info:
        # sysinfo alone: some firmware fails a request naming a module it lacks
        return self._checked(
            info_of(await self.proto.query("system", "get_sysinfo", idempotent=True))
        )

    def _checked(self, info: Info) -> Info:
        if info.kind == "bulb":
            raise UnsupportedDevice("a bulb, not a plug: not supported", target=self.proto.label)
        return info

    async def read_with_reading(
        self, meter: MeterModule
    ) -> tuple[Info, meter_rules.Reading | None]:
        """sysinfo and the meter's realtime reading in one request (a watch's first reading
        comes with its first round trip). A plug that fails the pair (firmware that refuses
        a module it lacks) is asked for sysinfo alone, as ``read`` does."""
        if not isinstance(meter, IotMeter):
            return await self.read(), None
        label = self.proto.label
        request: dict[str, Any] = {
            "system": {"get_sysinfo": {}},
            meter.module: {"get_realtime": {}},
        }
        try:
            answer = await self.proto.raw(request, idempotent=True)
            info = info_of(si.check_answer(answer, "system", "get_sysinfo", label))
        except DeviceTimeout:
            raise  # it did not answer at all: offline, as for sysinfo alone
        except (DeviceError, ProtocolError, TransportError):
            return await self.read(), None
        info = self._checked(info)
        if not info.has_meter or info.children:  # a strip's readings are per outlet
            return info, None
        try:
            realtime = si.check_answer(answer, meter.module, "get_realtime", label)
            return info, meter_rules.normalise(realtime)
        except (DeviceError, ProtocolError):
            return info, None  # the meter is asked as usual (it knows the other module name)

    async def ping(self) -> None:
        await self.proto.query("system", "get_sysinfo", idempotent=True)


class SmartInfo(InfoModule):
    """One ``update``: device info and the LED in one batch; the component list asked once
    (kept in the protocol's ``learnt``, with the outlets and the plug's UTC offset)."""

    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto
        self.learnt = proto.learnt  # kept with the link: the relay and the meter read it too

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
        if self.learnt.components is None:
            calls.append(("component_nego", None))  # asked once
        calls += [(method, None) for method in extra]
        # the LED last: asked before the components are known (nearly every plug has one),
        # and a plug that stops a batch at a failing entry stops after everything else
        if self.learnt.components is None or "led" in self.learnt.components:
            calls.append(("get_led_info", None))
        answers = await self.proto.call_many(calls)
        device = _ok(answers, "get_device_info")
        if self.learnt.components is None:
            self.learnt.components = smart_si.components(_ok(answers, "component_nego"))
        led = answers.get("get_led_info") if "led" in self.learnt.components else None
        kids: tuple[Any, ...] = ()
        if "child_device" in self.learnt.components or "control_child" in self.learnt.components:
            raw = await self.proto.call_paged("get_child_device_list", "child_device_list")
            kids = smart_si.children_of(raw)
        self.learnt.outlets = tuple(c.id for c in kids)
        diff = device.get("time_diff")
        self.learnt.time_diff = diff if isinstance(diff, int) and abs(diff) <= 24 * 60 else None
        info = smart_si.info_of(
            device, self.learnt.components, led if isinstance(led, dict) else None, kids
        )
        if info.kind == "bulb":
            raise UnsupportedDevice("a bulb, not a plug: not supported", target=self.proto.label)
        return info, answers

    async def ping(self) -> None:
        await self.proto.call("get_device_info", idempotent=True)


def _ok(answers: Answers, method: str) -> dict[str, Any]:
    answer = answers.get(method)
    if isinstance(answer, DeviceError):  # a SmartError
        raise answer
    if answer is None:
        raise ProtocolError(f"no answer to {method}")
    return answer


CAPABILITY: Capability[InfoModule] = Capability(
    "info", iot=IotInfo, smart=SmartInfo, lacking="a self-description"
)
