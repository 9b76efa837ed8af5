"""The capabilities in the IOT family's language (``system``, ``emeter``, ``time`` modules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kshell.device import meter_rules as emeter
from kshell.device import sysinfo as si
from kshell.device.capabilities import base
from kshell.device.capabilities.alias import IotAlias
from kshell.device.capabilities.firmware import IotFirmware
from kshell.device.capabilities.led import IotLed
from kshell.device.capabilities.meter import IotMeter, MeterModule
from kshell.device.capabilities.reboot import IotReboot
from kshell.device.state import Child, Info
from kshell.errors import (
    DeviceError,
    DeviceTimeout,
    ProtocolError,
    TransportError,
    UnsupportedDevice,
)

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol

METER_MODULES = ("emeter", "smartlife.iot.common.emeter")  # plugs and strips; bulbs
_NOT_SUPPORTED = (-1, -2)  # "module not support", "member not support"


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


class IotInfo(base.InfoModule):
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

    async def read_with_reading(self, meter: MeterModule) -> tuple[Info, emeter.Reading | None]:
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
            return info, emeter.normalise(realtime)
        except (DeviceError, ProtocolError):
            return info, None  # the meter is asked as usual (it knows the other module name)

    async def ping(self) -> None:
        await self.proto.query("system", "get_sysinfo", idempotent=True)


class IotRelay(base.RelayModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def set(self, on: bool, child: str | None = None) -> None:
        await self.proto.query("system", "set_relay_state", {"state": int(on)}, child_id=child)


def modules(proto: IotProtocol) -> base.Modules:
    return base.Modules(
        info=IotInfo(proto),
        relay=IotRelay(proto),
        led=IotLed(proto),
        alias=IotAlias(proto),
        meter=IotMeter(proto),
        firmware=IotFirmware(proto),
        reboot=IotReboot(proto),
    )
