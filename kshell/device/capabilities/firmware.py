"""The plug's firmware: its download state, and taking an image from a local server.

IOT: ``system``/``get_download_state``, ``download_firmware``, ``flash_firmware``. SMART:
the state is read; a SMART plug takes images only from the vendor, so both writes refuse.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from kshell.device.capabilities import smart_info as si
from kshell.device.capabilities.declaration import Capability
from kshell.device.readings import FirmwareState
from kshell.errors import UnsupportedDevice

if TYPE_CHECKING:
    from kshell.device.protocols.iot import IotProtocol
    from kshell.device.protocols.smart import SmartProtocol


DOWNLOAD_STATUS = {0: "idle", 1: "downloading", 2: "downloaded, ready to flash"}


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


class IotFirmware(FirmwareModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    @property
    def staging_refusal(self) -> str | None:
        return None

    async def state(self) -> FirmwareState:
        answer = await self.proto.query("system", "get_download_state", idempotent=True)
        status = answer.get("status")
        return FirmwareState(
            status=DOWNLOAD_STATUS.get(status, str(status))
            if isinstance(status, int)
            else str(status),
            ratio=_int(answer.get("ratio")),
            flash_time=_int(answer.get("flash_time")),
            reboot_time=_int(answer.get("reboot_time")),
            extra={
                k: v
                for k, v in answer.items()
                if k not in ("status", "ratio", "flash_time", "reboot_time", "err_code")
            },
        )

    async def download(self, url: str) -> None:
        await self.proto.query("system", "download_firmware", {"url": url})

    async def flash(self) -> None:
        await self.proto.query("system", "flash_firmware")


class SmartFirmware(FirmwareModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    @property
    def staging_refusal(self) -> str | None:
        return "a SMART plug takes firmware only from the vendor's servers, not from kshell"

    async def state(self) -> FirmwareState:
        answers = await self.proto.call_many(
            [("get_fw_download_state", None), ("get_latest_fw", None)]
        )
        download = answers.get("get_fw_download_state")
        latest = answers.get("get_latest_fw")
        download = download if isinstance(download, dict) else {}
        extra: dict[str, Any] = {}
        if isinstance(latest, dict):
            extra = {
                "latest": si.text(latest, "fw_ver"),
                "need_to_upgrade": latest.get("need_to_upgrade") is True,
            }
        status = download.get("status")
        status = "idle" if status == 0 else status
        progress = download.get("download_progress")
        return FirmwareState(
            status=str(status) if isinstance(status, (int, str)) else "unknown",
            ratio=progress if isinstance(progress, int) else None,
            flash_time=_int(download.get("upgrade_time")),
            reboot_time=_int(download.get("reboot_time")),
            extra=extra,
        )

    async def download(self, url: str) -> None:
        raise UnsupportedDevice(self.staging_refusal or "", target=self.proto.label)

    async def flash(self) -> None:
        raise UnsupportedDevice(self.staging_refusal or "", target=self.proto.label)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


CAPABILITY: Capability[FirmwareModule] = Capability(
    "firmware", iot=IotFirmware, smart=SmartFirmware, lacking="firmware kshell can read"
)
