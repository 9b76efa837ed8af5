"""Reading the IOT family's answers: ``err_code`` checks and the sysinfo fields.

Pure functions that check types, because what a plug says is untrusted. The SMART family
maps its own answers onto the same readings (``kshell.device.capabilities.smart_info``).
"""

from __future__ import annotations

from typing import Any

from kshell.errors import DeviceError, ProtocolError

HW_INFO_KEYS = ("sw_ver", "hw_ver", "mac", "type", "hwId", "fwId", "oemId", "dev_name")
SYSINFO: dict[str, Any] = {"system": {"get_sysinfo": {}}}
MAX_CHILDREN = 16


def check_answer(
    answer: dict[str, Any], module: str, method: str, target: str | None
) -> dict[str, Any]:
    """Pull ``answer[module][method]`` out, raising DeviceError for ``err_code != 0``."""
    mod = answer.get(module)
    if not isinstance(mod, dict):
        raise ProtocolError(f"answer lacks the '{module}' module", target=target)
    if "err_code" in mod and _err(mod):  # firmware reports a missing module at this level
        raise DeviceError(module, method, _err(mod), _msg(mod), target=target)
    result = mod.get(method)
    if not isinstance(result, dict):
        raise ProtocolError(f"answer lacks '{module}.{method}'", target=target)
    code = result.get("err_code", 0)
    if code != 0 or not isinstance(code, int):  # what _err() says, without a call
        raise DeviceError(module, method, _err(result), _msg(result), target=target)
    return result


def _err(part: dict[str, Any]) -> int:
    code = part.get("err_code", 0)
    return code if isinstance(code, int) else -1


def _msg(part: dict[str, Any]) -> str:
    msg = part.get("err_msg", "")
    return msg[:200] if isinstance(msg, str) else ""


def text(info: dict[str, Any], key: str, limit: int = 128) -> str | None:
    """A string field, or None when missing or not a string; bounded in length."""
    value = info.get(key)
    return value[:limit] if isinstance(value, str) else None


def kind_of(info: dict[str, Any]) -> str:
    """'strip', 'plug', 'bulb' or 'unknown', told by the keys and type strings."""
    dev_type = (text(info, "type") or text(info, "mic_type") or "").upper()
    if "BULB" in dev_type or "LIGHTSTRIP" in dev_type or "is_color" in info:
        return "bulb"
    if isinstance(info.get("children"), list):
        return "strip"
    if "PLUG" in dev_type or "SWITCH" in dev_type or "relay_state" in info:
        return "plug"
    return "unknown"


def relay_state(info: dict[str, Any]) -> bool | None:
    value = info.get("relay_state")
    return bool(value) if isinstance(value, int) else None


def features(info: dict[str, Any]) -> list[str]:
    return [f for f in (text(info, "feature") or "").split(":") if f]


def has_emeter(info: dict[str, Any]) -> bool:
    return "ENE" in features(info)


def model(info: dict[str, Any]) -> str:
    return text(info, "model") or "?"


def led_on(info: dict[str, Any]) -> bool | None:
    value = info.get("led_off")
    return (not value) if isinstance(value, int) else None


def hw_info(info: dict[str, Any]) -> dict[str, Any]:
    """The hardware keys a plug reports (those present; some hardware omits fwId)."""
    out: dict[str, Any] = {}
    for key in HW_INFO_KEYS:
        if key == "type":
            value = text(info, "type") or text(info, "mic_type")
        else:
            value = text(info, key)
        if value is not None:
            out[key] = value
    return out


def children(info: dict[str, Any]) -> list[dict[str, Any]]:
    """A strip's outlets as checked dicts: id, alias, state, on_time, number (from 1)."""
    raw = info.get("children")
    if not isinstance(raw, list):
        return []
    out = []
    for index, child in enumerate(raw[:MAX_CHILDREN], start=1):
        if not isinstance(child, dict) or not isinstance(child.get("id"), str):
            continue
        cid = child["id"]
        if len(cid) <= 2:  # some firmware gives only the suffix; the full id is needed
            cid = (text(info, "deviceId") or "") + cid
        state = child.get("state")
        on_time = child.get("on_time")
        out.append(
            {
                "number": index,
                "id": cid[:64],
                "alias": text(child, "alias") or f"outlet {index}",
                "state": bool(state) if isinstance(state, int) else None,
                "on_time": on_time if isinstance(on_time, int) else None,
            }
        )
    return out
