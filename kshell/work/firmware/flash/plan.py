"""The firmware flow's vocabulary: its settings, options, error, and one plug's way through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.errors import KshellError
from kshell.store.config import number

# the first bytes of a simulated image (kshell.simulator.firmware.MAGIC; not imported, so the
# client does not load the simulator): such an image never goes to a plug off loopback
SIM_MAGIC = b"KSHELL-SIM-FW "
STAGING_LOG = "staging.log"


class FirmwareError(KshellError):
    """A step of the flow failed; the message names the step."""

    kind = "firmware"

    def __init__(self, step: str, message: str, *, target: str | None = None) -> None:
        super().__init__(f"{step}: {message}", target=target)
        self.step = step


@dataclass
class Settings:
    poll_interval: float = 0.5
    stall_timeout: float = 60.0  # seconds without progress before a download is abandoned
    download_timeout: float = 900.0
    reboot_grace: float = 90.0  # seconds beyond the plug's own flash + reboot estimate
    probe_timeout: float = 2.0

    @classmethod
    def from_config(cls, session: Session) -> Settings:
        def value(key: str) -> float:
            return max(0.05, number(session.config, "firmware", key))

        return cls(
            poll_interval=value("poll_interval"),
            stall_timeout=value("stall_timeout"),
            download_timeout=value("download_timeout"),
            reboot_grace=value("reboot_grace"),
            probe_timeout=min(2.0, session.timeout),
        )


@dataclass
class PlugRun:
    """One plug's way through the flow."""

    target: Target
    model: str = ""
    hw_ver: str = ""
    old: str = ""
    address: str = ""  # the local address the image is served from
    plug_ip: str = ""  # the plug's own address: the only peer the staging server lets in
    route: str = ""
    url: str = ""
    flash_time: int = 0
    reboot_time: int = 0
    downloaded: bool = False
    forced: list[str] = field(default_factory=list)
    shown_ratio: int = -10  # the last download ratio that was a milestone (a line of its own)

    @property
    def label(self) -> str:
        return self.target.label

    def data(self, step: str, **more: Any) -> dict[str, Any]:
        return {"step": step, "target": self.label, "host": self.target.host, **more}


@dataclass
class StageOptions:
    force: bool = False
    dry_run: bool = False
    bind: str | None = None
    port: int = 0


def clamp(value: Any, low: int, high: int) -> int:
    """A number a plug reported, clamped into a sane range (what it says is untrusted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return low
    return max(low, min(high, int(value)))


def size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} B"
