"""The device layer: transports move bytes, protocols speak a family's language, and a
``Device`` with capability modules is all that commands, streams and flows see.

The IOT sysinfo readers are re-exported here for the store and discovery, which read
discovery answers in that shape.
"""

from __future__ import annotations

from kshell.device.device import Device
from kshell.device.state import Child, Info
from kshell.device.sysinfo import (
    HW_INFO_KEYS,
    SYSINFO,
    check_answer,
    children,
    features,
    has_emeter,
    hw_info,
    kind_of,
    led_on,
    model,
    relay_state,
    text,
)

__all__ = [
    "HW_INFO_KEYS",
    "SYSINFO",
    "Child",
    "Device",
    "Info",
    "check_answer",
    "children",
    "features",
    "has_emeter",
    "hw_info",
    "kind_of",
    "led_on",
    "model",
    "relay_state",
    "text",
]
