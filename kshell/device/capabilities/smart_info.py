"""Reading the SMART family's self-description onto the shared ``Info``: pure functions.

``get_device_info`` names things its own way (``fw_ver``, ``hw_id``, a base64 ``nickname``
and ``ssid``); the component list decides the kind (a PLUG with ``child_device`` is a strip,
a SWITCH with ``dimmer_calibration`` a dimmer) and whether there is a meter.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kshell.device.state import Child, Info

MAX_CHILDREN = 16
B64_FIELDS = ("nickname", "ssid")
# get_device_info's names for the hardware keys every family shows
HW_KEYS = (
    ("sw_ver", "fw_ver"),
    ("hw_ver", "hw_ver"),
    ("mac", "mac"),
    ("type", "type"),
    ("hwId", "hw_id"),
    ("fwId", "fw_id"),
    ("oemId", "oem_id"),
    ("dev_name", "model"),  # a SMART device names itself by its model only
)


def text(info: dict[str, Any], key: str, limit: int = 128) -> str | None:
    value = info.get(key)
    return value[:limit] if isinstance(value, str) else None


def unb64(value: Any, limit: int = 128) -> str | None:
    """A base64 field's UTF-8 text (nickname, ssid); None when it is not base64 text."""
    if not isinstance(value, str) or len(value) > limit * 2:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")[:limit]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def b64(text_: str) -> str:
    return base64.b64encode(text_.encode("utf-8")).decode("ascii")


def components(answer: dict[str, Any]) -> dict[str, int]:
    """``component_nego``'s list as {id: version}."""
    raw = answer.get("component_list")
    out: dict[str, int] = {}
    if isinstance(raw, list):
        for entry in raw[:200]:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                version = entry.get("ver_code")
                out[entry["id"][:64]] = version if isinstance(version, int) else 1
    return out


def kind_of(info: dict[str, Any], comps: dict[str, int]) -> str:
    dev_type = (text(info, "type") or "").upper()
    if "BULB" in dev_type or "LIGHT" in dev_type:
        return "bulb"
    if "child_device" in comps or "control_child" in comps:
        return "strip"
    if "dimmer_calibration" in comps or "brightness" in comps:
        return "dimmer"
    if "PLUG" in dev_type or "SWITCH" in dev_type or "device_on" in info:
        return "plug"
    return "unknown"


def mac_of(info: dict[str, Any]) -> str:
    return (text(info, "mac") or "").replace("-", ":")


def shown(info: dict[str, Any]) -> dict[str, Any]:
    """``get_device_info`` as `info` shows it: base64 fields decoded, hardware keys added."""
    out = dict(info)
    for key in B64_FIELDS:
        decoded = unb64(info.get(key))
        if decoded is not None:
            out[key] = decoded
    out.update(hw_of(info))
    out["alias"] = out.get("nickname", "")
    return out


def hw_of(info: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, smart_key in HW_KEYS:
        value = mac_of(info) if key == "mac" else text(info, smart_key)
        if value:
            out[key] = value
    return out


def children_of(raw: list[Any]) -> tuple[Child, ...]:
    """``get_child_device_list`` entries, by ``position`` (from 1), types checked."""
    out: list[Child] = []
    for index, child in enumerate(raw[:MAX_CHILDREN], start=1):
        if not isinstance(child, dict) or not isinstance(child.get("device_id"), str):
            continue
        position = child.get("position")
        number = position if isinstance(position, int) and 0 < position <= 64 else index
        on = child.get("device_on")
        on_time = child.get("on_time")
        out.append(
            Child(
                number=number,
                id=child["device_id"][:80],
                alias=unb64(child.get("nickname")) or f"outlet {number}",
                state=on if isinstance(on, bool) else None,
                on_time=on_time
                if isinstance(on_time, int) and not isinstance(on_time, bool)
                else None,
            )
        )
    return tuple(sorted(out, key=lambda c: c.number))


def info_of(
    device: dict[str, Any],
    comps: dict[str, int],
    led: dict[str, Any] | None,
    kids: tuple[Child, ...],
) -> Info:
    on = device.get("device_on")
    on_time = device.get("on_time")
    led_status = (led or {}).get("led_status")
    return Info(
        family="smart",
        alias=unb64(device.get("nickname")) or "",
        model=text(device, "model") or "?",
        kind=kind_of(device, comps),
        mac=mac_of(device),
        hw_ver=text(device, "hw_ver") or "",
        sw_ver=text(device, "fw_ver") or "",
        relay=on if isinstance(on, bool) else None,
        led=led_status if isinstance(led_status, bool) else None,
        on_time=on_time if isinstance(on_time, int) and not isinstance(on_time, bool) else None,
        has_meter="energy_monitoring" in comps,
        updating=False,
        children=kids,
        hw=hw_of(device),
        raw=shown(device),
    )
