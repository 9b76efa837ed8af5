"""Typed readings besides ``Info``, the same for every family: the plug's firmware's state,
energy per period. Imported when a command asks for one, not by every
one-shot command (each class costs start-up time to make).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FirmwareState:
    """What a plug reports about its own firmware download or update."""

    status: str
    ratio: int | None
    flash_time: int | None
    reboot_time: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Energy:
    """One period's energy from the plug's statistics: (year, month, day) and kWh."""

    year: int
    month: int
    day: int
    kwh: float
